//! ReportLens desktop shell: a window over `ui/` and thin commands over the
//! engine. All document work lives in the `reportlens` crate.
pub mod commands;

/// Add the app's plugins and commands to `builder` (shared by `run` and the
/// IPC tests, which pass `tauri::test::mock_builder()`).
pub fn with_app<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(tauri::generate_handler![
            commands::open_document,
            commands::model_status
        ])
}

/// Start the desktop app.
pub fn run() {
    with_app(tauri::Builder::default())
        .run(tauri::generate_context!())
        .expect("error while running the ReportLens window");
}

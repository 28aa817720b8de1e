//! ReportLens desktop shell: a window over `ui/` and thin commands over the
//! engine. All document work lives in the `reportlens` crate.
pub mod commands;
pub mod forms;
pub mod jobs;
pub mod settings;

/// Add the app's plugins and commands to `builder` (shared by `run` and the
/// IPC tests, which pass `tauri::test::mock_builder()`).
pub fn with_app<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_dialog::init())
        .manage(jobs::JobState::start())
        .manage(forms::ConvertState::default())
        .invoke_handler(tauri::generate_handler![
            commands::open_document,
            commands::model_status,
            jobs::plan_task,
            jobs::watch_jobs,
            jobs::queue_files,
            jobs::queue_view,
            jobs::start_job,
            jobs::resume_job,
            jobs::pause_job,
            jobs::cancel_job,
            jobs::move_job,
            jobs::list_jobs,
            jobs::open_job,
            jobs::delete_job,
            jobs::export_job,
            jobs::edit_translation,
            settings::get_settings,
            settings::save_settings,
            forms::model_forms,
            forms::use_model_form,
            forms::cancel_conversion
        ])
}

/// Start the desktop app.
pub fn run() {
    reserve_a_core_for_the_window();
    with_app(tauri::Builder::default())
        .build(tauri::generate_context!())
        .expect("error while building the ReportLens window")
        .run(|app, event| {
            // Closing the window: running jobs stop at their next token and
            // keep their places in the queue for the next start.
            if let tauri::RunEvent::Exit = event {
                use tauri::Manager;
                app.state::<jobs::JobState>().stop();
            }
        });
}

/// The model's CPU thread pools spin while they wait; on every core they
/// would starve the webview and the window would stutter while a job runs.
/// With four cores or more, leave one to the window (unless the user chose a
/// thread count); with fewer, halving the model's speed would cost more.
fn reserve_a_core_for_the_window() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    if cores >= 4 {
        reportlens::model::device::set_cpu_threads(cores - 1);
    }
}

fn main() {
    // Declaring the app's commands makes them subject to capabilities: the
    // webview may call only what capabilities/default.json grants.
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&["open_document", "model_status"]),
    ))
    .expect("tauri build script failed");
}

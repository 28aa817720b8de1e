fn main() {
    // The window's files are compiled into the binary: rebuild when they change.
    println!("cargo:rerun-if-changed=../ui");
    // Declaring the app's commands makes them subject to capabilities: the
    // webview may call only what capabilities/default.json grants.
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "open_document",
            "model_status",
            "plan_task",
            "watch_jobs",
            "queue_files",
            "queue_view",
            "start_job",
            "resume_job",
            "pause_job",
            "cancel_job",
            "move_job",
            "list_jobs",
            "open_job",
            "delete_job",
            "export_job",
            "edit_translation",
            "get_settings",
            "save_settings",
            "model_forms",
            "use_model_form",
            "cancel_conversion",
        ]),
    ))
    .expect("tauri build script failed");
}

//! Writing a finished job out: the one set of export rules the CLI and the
//! app share. A bilingual export needs a translation (refused for a summary,
//! never quietly downgraded), and a path without the format's extension gets
//! it (a save dialog may drop it).
use std::path::{Path, PathBuf};

use super::{JobResult, TaskError};
use crate::export::{self, ExportFormat};

/// Write `result` to `path` as `format`; returns the path written.
pub fn export_result(
    result: &JobResult,
    format: ExportFormat,
    path: &Path,
) -> Result<PathBuf, TaskError> {
    if format.is_bilingual() && !matches!(result, JobResult::Translation { .. }) {
        return Err(TaskError::BilingualNeedsTranslation);
    }
    let path = with_extension(path, format);
    export::write(&result.export_content(), format, &path)?;
    Ok(path)
}

/// `path` ending in `format`'s extension (added, never replaced: a name
/// with a dot of its own keeps it).
fn with_extension(path: &Path, format: ExportFormat) -> PathBuf {
    let ext = format.extension();
    let has = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext));
    if has {
        return path.to_path_buf();
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(ext);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::tasks::Findings;

    #[test]
    fn a_summary_has_no_bilingual_export_and_gets_its_extension() {
        let dir = tempfile::tempdir().unwrap();
        let summary = JobResult::Summary {
            title: "Q3".into(),
            markdown: "Revenue rose 5% to $53,648 million.".into(),
            findings: Findings::new(Vec::new()),
        };
        for format in [ExportFormat::BilingualMarkdown, ExportFormat::BilingualDocx] {
            let err = export_result(&summary, format, &dir.path().join("s")).unwrap_err();
            assert!(matches!(err, TaskError::BilingualNeedsTranslation), "{err}");
            assert!(err.to_string().contains("needs a translation"));
        }
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "nothing written"
        );
        let written =
            export_result(&summary, ExportFormat::Markdown, &dir.path().join("s")).unwrap();
        assert_eq!(written, dir.path().join("s.md"));
        assert!(std::fs::read_to_string(&written)
            .unwrap()
            .contains("53,648"));
    }

    #[test]
    fn the_extension_is_added_not_replaced() {
        let f = ExportFormat::Docx;
        assert_eq!(
            with_extension(Path::new("/t/r.docx"), f),
            Path::new("/t/r.docx")
        );
        assert_eq!(
            with_extension(Path::new("/t/R.DOCX"), f),
            Path::new("/t/R.DOCX")
        );
        assert_eq!(with_extension(Path::new("/t/r"), f), Path::new("/t/r.docx"));
        assert_eq!(
            with_extension(Path::new("/t/Q3 v1.2"), ExportFormat::Markdown),
            Path::new("/t/Q3 v1.2.md")
        );
    }
}

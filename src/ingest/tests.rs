//! `extract` end to end on small made-up files and on corpus files.

use super::*;
use std::path::PathBuf;

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(rel)
}

/// Corpus files are outside the repo; skip (loudly) where it is absent.
fn corpus_file(rel: &str) -> Option<PathBuf> {
    let p = corpus(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: corpus file {} not found", p.display());
        None
    }
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn sniffing_detects_real_content() {
    assert_eq!(sniff::sniff(b"%PDF-1.7\n..."), Sniffed::Pdf);
    assert_eq!(sniff::sniff(b"PK\x03\x04 truncated"), Sniffed::BrokenZip);
    assert_eq!(sniff::sniff("营业收入 revenue".as_bytes()), Sniffed::Text);
    assert!(matches!(
        sniff::sniff(b"\x89PNG\r\n\x1a\n\0\0"),
        Sniffed::Binary(_)
    ));
    assert!(matches!(
        sniff::sniff(b"\x00\x01\x02\x03\x04\x05\xff\xfe\x00\x00\x07"),
        Sniffed::Binary(_)
    ));
    if let Some(docx) = corpus_file("docx/docling__word_tables.docx") {
        assert_eq!(sniff::sniff(&std::fs::read(docx).unwrap()), Sniffed::Docx);
    }
}

#[test]
fn mislabelled_files_name_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let txt_as_pdf = write(&dir, "report.pdf", b"just some words\n");
    match extract(&txt_as_pdf) {
        Err(IngestError::WrongType {
            expected, found, ..
        }) => {
            assert_eq!(expected, "pdf");
            assert_eq!(found, "plain text");
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    let pdf_as_docx = write(&dir, "report.docx", b"%PDF-1.4\n%stuff");
    let err = extract(&pdf_as_docx).unwrap_err();
    assert!(matches!(err, IngestError::WrongType { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("report.docx") && msg.contains("a PDF document"),
        "{msg}"
    );
    let png_as_txt = write(&dir, "notes.txt", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    assert!(matches!(
        extract(&png_as_txt),
        Err(IngestError::WrongType { .. })
    ));
    if let Some(docx) = corpus_file("docx/docling__word_tables.docx") {
        let as_pdf = write(&dir, "tables.pdf", &std::fs::read(docx).unwrap());
        match extract(&as_pdf) {
            Err(IngestError::WrongType { found, .. }) => assert!(found.contains("Word"), "{found}"),
            other => panic!("expected WrongType, got {other:?}"),
        }
    }
}

#[test]
fn empty_unsupported_and_too_large() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        extract(&write(&dir, "e.pdf", b"")),
        Err(IngestError::Empty { .. })
    ));
    assert!(matches!(
        extract(&write(&dir, "e.txt", b" \n\n ")),
        Err(IngestError::Empty { .. })
    ));
    assert!(matches!(
        extract(&write(&dir, "a.xlsx", b"x")),
        Err(IngestError::Unsupported { .. })
    ));
    assert!(matches!(
        extract(&write(&dir, "noext", b"x")),
        Err(IngestError::Unsupported { .. })
    ));
    let big = write(&dir, "big.txt", &[b'a'; 2048]);
    let opts = ExtractOptions {
        max_bytes: 1024,
        ..Default::default()
    };
    match extract_with(&big, &opts) {
        Err(IngestError::TooLarge { size, limit, .. }) => assert_eq!((size, limit), (2048, 1024)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(matches!(
        extract(&dir.path().join("missing.pdf")),
        Err(IngestError::Io { .. })
    ));
}

#[test]
fn text_and_markdown_files() {
    let dir = tempfile::tempdir().unwrap();
    let md = write(&dir, "r.md", b"# Summary\n\nRevenue rose.\n");
    let doc = extract(&md).unwrap();
    assert_eq!(doc.format, Format::Md);
    assert_eq!(doc.blocks[0].kind, BlockKind::Heading);
    assert_eq!(doc.blocks[1].index, Some(1));
    let (gbk, _, _) = encoding_rs::GB18030.encode("年度报告\n\n营业收入增长。");
    let txt = write(&dir, "zh.txt", &gbk);
    let doc = extract(&txt).unwrap();
    assert_eq!(doc.plain_text(), "年度报告\n\n营业收入增长。");
}

#[test]
fn truncated_pdf_is_corrupt_not_a_panic() {
    let Some(src) = corpus_file("pdf/olmocr__f_iCZoRmio_pg29.pdf") else {
        return;
    };
    let bytes = std::fs::read(src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = write(&dir, "half.pdf", &bytes[..bytes.len() / 2]);
    match extract(&cut) {
        // lopdf can rebuild some truncated files; what it rebuilds must still be text.
        Ok(doc) => assert!(doc.char_count() > 0),
        Err(e) => assert!(
            matches!(e, IngestError::Corrupt { .. } | IngestError::NoText { .. }),
            "{e:?}"
        ),
    }
    let tiny = write(&dir, "tiny.pdf", &bytes[..200]);
    assert!(
        matches!(extract(&tiny), Err(IngestError::Corrupt { .. })),
        "{:?}",
        extract(&tiny)
    );
}

#[test]
fn password_protected_pdfs_are_encrypted_errors() {
    for f in [
        "pdf/unstructured__password.pdf",
        "pdf/pdftotext__user_password.pdf",
        "pdf/pdfrs__passwords_aes_256.pdf",
    ] {
        let Some(p) = corpus_file(f) else { continue };
        let r = extract(&p);
        assert!(
            matches!(r, Err(IngestError::Encrypted { .. })),
            "{f}: {r:?}"
        );
        assert!(r.unwrap_err().to_string().contains("password"));
    }
}

#[test]
fn ordinary_pdf_has_pages_and_text() {
    let Some(p) = corpus_file("pdf/olmocr__f_iCZoRmio_pg29.pdf") else {
        return;
    };
    let doc = extract(&p).unwrap();
    assert_eq!(doc.format, Format::Pdf);
    assert_eq!(doc.pages, Some(1));
    assert!(doc.char_count() > 500, "{}", doc.char_count());
    assert!(doc.blocks.iter().all(|b| b.page == Some(1)));
}

#[test]
fn docx_table_becomes_table_block() {
    let Some(p) = corpus_file("docx/docling__word_tables.docx") else {
        return;
    };
    let doc = extract(&p).unwrap();
    let tables: Vec<&Block> = doc
        .blocks
        .iter()
        .filter(|b| b.kind == BlockKind::Table)
        .collect();
    assert!(!tables.is_empty());
    let cells = tables[0].cells.as_ref().unwrap();
    assert!(cells.len() >= 2 && cells[0].len() >= 2, "{cells:?}");
    assert_eq!(tables[0].text.lines().count(), cells.len());
    assert!(doc
        .blocks
        .iter()
        .all(|b| b.index.is_some() && b.page.is_none()));
}

#[test]
fn docx_zip_bomb_is_refused() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.docx");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("word/document.xml", opts).unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..8 {
        zip.write_all(&chunk).unwrap();
    }
    zip.finish().unwrap();
    let opts = ExtractOptions {
        max_unzipped_bytes: 4 << 20,
        ..Default::default()
    };
    match extract_with(&path, &opts) {
        Err(IngestError::Corrupt { reason, .. }) => {
            assert!(reason.contains("zip bomb"), "{reason}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

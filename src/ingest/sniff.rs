//! What a file really is, from its first bytes (never from its name).

use std::io::Cursor;

/// The kind of content found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    Pdf,
    /// A zip holding `word/document.xml`.
    Docx,
    /// Starts like a zip but its directory cannot be read (truncated or damaged).
    BrokenZip,
    /// A readable zip that is not a Word document; the string says what it is.
    OtherZip(&'static str),
    /// A known binary format; the string names it.
    Binary(&'static str),
    /// Text in some encoding (UTF-8, UTF-16, GB18030...).
    Text,
}

impl Sniffed {
    /// Human wording for error messages ("its content is ...").
    pub fn describe(&self) -> String {
        match self {
            Sniffed::Pdf => "a PDF document".into(),
            Sniffed::Docx => "a Word document (.docx)".into(),
            Sniffed::BrokenZip => "a damaged ZIP archive".into(),
            Sniffed::OtherZip(what) | Sniffed::Binary(what) => (*what).into(),
            Sniffed::Text => "plain text".into(),
        }
    }
}

/// Look at the content. PDF readers accept a header within the first KiB, so do we.
pub fn sniff(bytes: &[u8]) -> Sniffed {
    let head = &bytes[..bytes.len().min(1024)];
    if find(head, b"%PDF-").is_some() {
        return Sniffed::Pdf;
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return sniff_zip(bytes);
    }
    const MAGIC: &[(&[u8], &str)] = &[
        (
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
            "a legacy Office file (.doc/.xls); save it as .docx",
        ),
        (b"{\\rtf", "an RTF document; save it as .docx"),
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"II*\0", "a TIFF image"),
        (b"MM\0*", "a TIFF image"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"Rar!", "a RAR archive"),
        (b"7z\xBC\xAF", "a 7-Zip archive"),
        (b"\x7FELF", "a program (ELF)"),
        (b"MZ", "a Windows program"),
    ];
    for (magic, what) in MAGIC {
        if bytes.starts_with(magic) {
            return Sniffed::Binary(what);
        }
    }
    if looks_like_text(bytes) {
        Sniffed::Text
    } else {
        Sniffed::Binary("binary data")
    }
}

fn sniff_zip(bytes: &[u8]) -> Sniffed {
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Sniffed::BrokenZip;
    };
    let has = |name: &str| zip.file_names().any(|n| n.eq_ignore_ascii_case(name));
    if has("word/document.xml") {
        Sniffed::Docx
    } else if has("xl/workbook.xml") {
        Sniffed::OtherZip("an Excel workbook (.xlsx)")
    } else if has("ppt/presentation.xml") {
        Sniffed::OtherZip("a PowerPoint presentation (.pptx)")
    } else if has("content.xml") {
        Sniffed::OtherZip("an OpenDocument file (.odt/.ods)")
    } else if declares_word_main_part(&mut zip) {
        // Some writers name the main part otherwise (word/document2.xml).
        Sniffed::Docx
    } else {
        Sniffed::OtherZip("a ZIP archive")
    }
}

/// Does `[Content_Types].xml` name a WordprocessingML main part? (Read bounded.)
fn declares_word_main_part(zip: &mut zip::ZipArchive<Cursor<&[u8]>>) -> bool {
    use std::io::Read;
    let Ok(f) = zip.by_name("[Content_Types].xml") else {
        return false;
    };
    let mut buf = Vec::new();
    if f.take(1 << 20).read_to_end(&mut buf).is_err() {
        return false;
    }
    find(&buf, b"wordprocessingml.document.main+xml").is_some()
}

/// Text has no NUL bytes (unless it is UTF-16, which has a BOM or a NUL every other
/// byte) and few control characters.
fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(8192)];
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return true;
    }
    let nuls = head.iter().filter(|&&b| b == 0).count();
    if nuls > 0 {
        // BOM-less UTF-16 of mostly ASCII: NULs at every other position.
        let even = head.iter().step_by(2).filter(|&&b| b == 0).count();
        let odd = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
        let half = head.len() / 2;
        return half > 0 && (even * 10 >= half * 9 || odd * 10 >= half * 9);
    }
    let controls = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0C | 0x1B))
        .count();
    controls * 100 <= head.len()
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

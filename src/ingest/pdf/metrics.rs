//! Glyph widths of the standard 14 fonts (PDF 32000-1 §9.6.2.2), for files that name
//! such a font without `/Widths`, and the nearest of them for any other font that
//! has no widths at all (as poppler substitutes).

use super::encoding::{self, BaseEncoding};
use std::collections::HashMap;
use std::sync::OnceLock;

const METRICS: &str = include_str!("tables/metrics.txt");

pub struct StandardFont {
    widths: HashMap<&'static str, f64>,
    /// Symbol's own encoding (the Latin fonts use the Standard encoding).
    builtin: Option<BaseEncoding>,
}

impl StandardFont {
    pub fn width(&self, glyph: &str) -> Option<f64> {
        self.widths.get(glyph).copied()
    }

    pub fn builtin_encoding(&self) -> Option<&'static [Option<&'static str>]> {
        self.builtin.map(encoding::base_names)
    }
}

fn fonts() -> &'static HashMap<&'static str, StandardFont> {
    static FONTS: OnceLock<HashMap<&'static str, StandardFont>> = OnceLock::new();
    FONTS.get_or_init(|| {
        let mut out: HashMap<&'static str, StandardFont> = HashMap::new();
        let mut current: Option<&'static str> = None;
        for line in METRICS.lines() {
            if let Some(name) = line.strip_prefix("# ") {
                let name = name.trim();
                current = Some(name);
                out.insert(
                    name,
                    StandardFont {
                        widths: HashMap::new(),
                        builtin: (name == "Symbol").then_some(BaseEncoding::Symbol),
                    },
                );
                continue;
            }
            let (Some(font), Some((glyph, w))) = (current, line.split_once('\t')) else {
                continue;
            };
            if let (Ok(w), Some(f)) = (w.trim().parse::<f64>(), out.get_mut(font)) {
                f.widths.insert(glyph, w);
            }
        }
        out
    })
}

/// The standard font a `/BaseFont` names, by its own name or the aliases PDF
/// producers write (Arial for Helvetica, TimesNewRoman for Times, CourierNew; with
/// `,Bold` / `-BoldMT` style suffixes).
pub fn standard_font(base_font: &[u8]) -> Option<&'static StandardFont> {
    let name = std::str::from_utf8(base_font).ok()?;
    if let Some(f) = fonts().get(name) {
        return Some(f);
    }
    let lower = name.to_ascii_lowercase();
    let squashed: String = lower
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let family = [
        "arial",
        "helvetica",
        "timesnewroman",
        "times",
        "couriernew",
        "courier",
    ]
    .into_iter()
    .find(|f| squashed.starts_with(f))?;
    let rest = &squashed[family.len()..];
    // Only style words may follow the family name (ArialNarrow is another font).
    let style_only = rest
        .replace("psmt", "")
        .replace("mt", "")
        .replace("ps", "")
        .replace("bold", "")
        .replace("italic", "")
        .replace("oblique", "")
        .replace("regular", "")
        .replace("roman", "");
    if !style_only.is_empty() {
        return None;
    }
    Some(pick(
        family,
        rest.contains("bold"),
        rest.contains("italic") || rest.contains("oblique"),
    ))
}

/// The standard font closest to any font name, by family and style words.
pub fn substitute_font(base_font: &[u8]) -> &'static StandardFont {
    let lower = String::from_utf8_lossy(base_font).to_ascii_lowercase();
    let family = if lower.contains("courier") || lower.contains("mono") {
        "courier"
    } else if lower.contains("times")
        || (lower.contains("serif") || lower.contains("roman")) && !lower.contains("sans")
    {
        "times"
    } else {
        "helvetica"
    };
    let bold = ["bold", "black", "heavy", "semibold", "demi"]
        .iter()
        .any(|w| lower.contains(w));
    let italic = lower.contains("italic") || lower.contains("oblique");
    pick(family, bold, italic)
}

fn pick(family: &str, bold: bool, italic: bool) -> &'static StandardFont {
    let name = match (family, bold, italic) {
        ("courier" | "couriernew", false, false) => "Courier",
        ("courier" | "couriernew", true, false) => "Courier-Bold",
        ("courier" | "couriernew", false, true) => "Courier-Oblique",
        ("courier" | "couriernew", true, true) => "Courier-BoldOblique",
        ("times" | "timesnewroman", false, false) => "Times-Roman",
        ("times" | "timesnewroman", true, false) => "Times-Bold",
        ("times" | "timesnewroman", false, true) => "Times-Italic",
        ("times" | "timesnewroman", true, true) => "Times-BoldItalic",
        (_, false, false) => "Helvetica",
        (_, true, false) => "Helvetica-Bold",
        (_, false, true) => "Helvetica-Oblique",
        (_, true, true) => "Helvetica-BoldOblique",
    };
    &fonts()[name]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_fonts_and_aliases() {
        assert_eq!(
            standard_font(b"Helvetica").unwrap().width("zero"),
            Some(556.0)
        );
        assert_eq!(
            standard_font(b"Times-Roman").unwrap().width("space"),
            Some(250.0)
        );
        let arial_bold = standard_font(b"Arial,Bold").unwrap();
        assert_eq!(arial_bold.width("A"), fonts()["Helvetica-Bold"].width("A"));
        let tnr = standard_font(b"TimesNewRomanPS-BoldMT").unwrap();
        assert_eq!(tnr.width("a"), fonts()["Times-Bold"].width("a"));
        assert!(standard_font(b"ArialNarrow").is_none());
        assert!(standard_font(b"Symbol")
            .unwrap()
            .builtin_encoding()
            .is_some());
        assert_eq!(substitute_font(b"Calibri").width("zero"), Some(556.0));
        assert_eq!(substitute_font(b"CourierStd").width("a"), Some(600.0));
    }
}

//! An embedded TrueType/OpenType font's `cmap` table, reversed: glyph id -> Unicode.
//!
//! A CID TrueType font with Identity encoding and no `/ToUnicode` names glyphs only by
//! id; the font program's own character map still says which character each glyph
//! draws (poppler and pdf.js read it the same way). Every read is bounds-checked: the
//! font is untrusted input.

use std::collections::HashMap;

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *d.get(at)?,
        *d.get(at + 1)?,
        *d.get(at + 2)?,
        *d.get(at + 3)?,
    ]))
}

/// Glyphs mapped at most (a hostile format-12 table can claim billions).
const MAX_MAPPINGS: usize = 200_000;

/// Glyph id -> the lowest Unicode character mapped to it.
pub fn glyph_chars(font: &[u8]) -> Option<HashMap<u16, char>> {
    let cmap = table(font, b"cmap")?;
    let count = u16_at(cmap, 2)? as usize;
    // Preference: full Unicode (3,10), BMP Unicode (3,1), then Unicode platform 0.
    let mut best: Option<(u8, usize)> = None;
    for i in 0..count.min(64) {
        let rec = 4 + i * 8;
        let (platform, encoding) = (u16_at(cmap, rec)?, u16_at(cmap, rec + 2)?);
        let offset = u32_at(cmap, rec + 4)? as usize;
        let rank = match (platform, encoding) {
            (3, 10) => 3,
            (3, 1) => 2,
            (0, _) => 1,
            _ => continue,
        };
        if best.is_none_or(|(r, _)| rank > r) {
            best = Some((rank, offset));
        }
    }
    let (_, offset) = best?;
    let sub = cmap.get(offset..)?;
    let mut out: HashMap<u16, char> = HashMap::new();
    let mut add = |code: u32, gid: u32| {
        if gid == 0 || out.len() >= MAX_MAPPINGS {
            return;
        }
        if let (Ok(gid), Some(c)) = (u16::try_from(gid), char::from_u32(code)) {
            out.entry(gid)
                .and_modify(|e| {
                    if c < *e {
                        *e = c
                    }
                })
                .or_insert(c);
        }
    };
    match u16_at(sub, 0)? {
        4 => {
            let seg_count = u16_at(sub, 6)? as usize / 2;
            let ends = 14;
            let starts = ends + seg_count * 2 + 2;
            let deltas = starts + seg_count * 2;
            let ranges = deltas + seg_count * 2;
            for s in 0..seg_count {
                let end = u16_at(sub, ends + s * 2)? as u32;
                let start = u16_at(sub, starts + s * 2)? as u32;
                let delta = u16_at(sub, deltas + s * 2)?;
                let range_offset = u16_at(sub, ranges + s * 2)? as usize;
                if start > end || start == 0xFFFF {
                    continue;
                }
                for code in start..=end {
                    let gid = if range_offset == 0 {
                        (code as u16).wrapping_add(delta) as u32
                    } else {
                        let at = ranges + s * 2 + range_offset + (code - start) as usize * 2;
                        match u16_at(sub, at) {
                            Some(0) | None => 0,
                            Some(g) => g.wrapping_add(delta) as u32,
                        }
                    };
                    add(code, gid);
                }
            }
        }
        12 => {
            let groups = u32_at(sub, 12)? as usize;
            for g in 0..groups.min(MAX_MAPPINGS) {
                let at = 16 + g * 12;
                let (start, end, gid) =
                    (u32_at(sub, at)?, u32_at(sub, at + 4)?, u32_at(sub, at + 8)?);
                if end < start || end - start > MAX_MAPPINGS as u32 {
                    continue;
                }
                for k in 0..=(end - start) {
                    add(start + k, gid + k);
                }
            }
        }
        6 => {
            let first = u16_at(sub, 6)? as u32;
            let n = u16_at(sub, 8)? as usize;
            for k in 0..n {
                add(first + k as u32, u16_at(sub, 10 + k * 2)? as u32);
            }
        }
        0 => {
            for code in 0..256usize {
                add(code as u32, *sub.get(6 + code)? as u32);
            }
        }
        _ => return None,
    }
    (!out.is_empty()).then_some(out)
}

/// The bytes of table `tag` of an sfnt font.
fn table<'a>(font: &'a [u8], tag: &[u8; 4]) -> Option<&'a [u8]> {
    let n = u16_at(font, 4)? as usize;
    for i in 0..n.min(256) {
        let rec = 12 + i * 16;
        if font.get(rec..rec + 4)? == tag {
            let offset = u32_at(font, rec + 8)? as usize;
            let len = u32_at(font, rec + 12)? as usize;
            return font.get(offset..offset.checked_add(len)?);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal sfnt with one format-4 cmap: 'A'..'C' -> glyphs 3..5, '1' -> glyph 9
    /// through the glyph id array.
    fn font() -> Vec<u8> {
        let mut sub = Vec::new();
        let seg = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_be_bytes());
        seg(&mut sub, 4); // format
        seg(&mut sub, 0); // length (unused)
        seg(&mut sub, 0); // language
        seg(&mut sub, 6); // segCountX2 (3 segments)
        for x in [0u16, 0, 0] {
            seg(&mut sub, x); // searchRange etc.
        }
        for end in [0x43u16, 0x31, 0xFFFF] {
            seg(&mut sub, end);
        }
        seg(&mut sub, 0); // reservedPad
        for start in [0x41u16, 0x31, 0xFFFF] {
            seg(&mut sub, start);
        }
        for delta in [(3i32 - 0x41) as u16, 0, 1] {
            seg(&mut sub, delta);
        }
        // idRangeOffset: segment 1 points at the glyph id array right after the table.
        for ro in [0u16, 4, 0] {
            seg(&mut sub, ro);
        }
        seg(&mut sub, 9); // glyphIdArray[0]
        let mut cmap = Vec::new();
        seg(&mut cmap, 0);
        seg(&mut cmap, 1);
        seg(&mut cmap, 3);
        seg(&mut cmap, 1);
        cmap.extend_from_slice(&12u32.to_be_bytes());
        cmap.extend_from_slice(&sub);
        let mut f = Vec::new();
        f.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        seg(&mut f, 1);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(b"cmap");
        f.extend_from_slice(&0u32.to_be_bytes());
        f.extend_from_slice(&28u32.to_be_bytes());
        f.extend_from_slice(&(cmap.len() as u32).to_be_bytes());
        f.extend_from_slice(&cmap);
        f
    }

    #[test]
    fn format_4_reversed() {
        let m = glyph_chars(&font()).unwrap();
        assert_eq!(m.get(&3), Some(&'A'));
        assert_eq!(m.get(&5), Some(&'C'));
        assert_eq!(m.get(&9), Some(&'1'));
        assert_eq!(m.get(&0), None);
    }

    #[test]
    fn truncated_fonts_are_none() {
        let f = font();
        for cut in [0, 3, 11, 20, 40, f.len() - 3] {
            let _ = glyph_chars(&f[..cut]);
        }
        assert!(glyph_chars(b"garbage").is_none());
    }
}

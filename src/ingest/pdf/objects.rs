//! Lenient access to lopdf objects: references followed (boundedly), numbers of either
//! type, and `None` instead of an error for anything missing or of the wrong type.
//! A text extractor reads what it can; a wrong type is a reason to skip, not to stop.

use lopdf::{Dictionary, Document, Object, ObjectId, Stream};

/// References followed in a row before giving up (a reference loop).
const DEREF_LIMIT: usize = 16;

/// Inherited page attributes are looked up at most this many levels up the page tree.
const TREE_DEPTH_LIMIT: usize = 64;

pub fn deref<'a>(doc: &'a Document, mut obj: &'a Object) -> Option<&'a Object> {
    for _ in 0..DEREF_LIMIT {
        match obj {
            Object::Reference(id) => obj = doc.objects.get(id)?,
            _ => return Some(obj),
        }
    }
    None
}

pub fn get<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    deref(doc, dict.get(key).ok()?)
}

pub fn dict<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Dictionary> {
    match deref(doc, obj)? {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

pub fn get_dict<'a>(doc: &'a Document, d: &'a Dictionary, key: &[u8]) -> Option<&'a Dictionary> {
    dict(doc, d.get(key).ok()?)
}

pub fn get_stream<'a>(doc: &'a Document, d: &'a Dictionary, key: &[u8]) -> Option<&'a Stream> {
    match get(doc, d, key)? {
        Object::Stream(s) => Some(s),
        _ => None,
    }
}

pub fn get_array<'a>(doc: &'a Document, d: &'a Dictionary, key: &[u8]) -> Option<&'a [Object]> {
    match get(doc, d, key)? {
        Object::Array(a) => Some(a),
        _ => None,
    }
}

pub fn get_name<'a>(doc: &'a Document, d: &'a Dictionary, key: &[u8]) -> Option<&'a [u8]> {
    match get(doc, d, key)? {
        Object::Name(n) => Some(n),
        _ => None,
    }
}

pub fn number(doc: &Document, obj: &Object) -> Option<f64> {
    match deref(doc, obj)? {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(*r as f64).filter(|v| v.is_finite()),
        _ => None,
    }
}

pub fn get_number(doc: &Document, d: &Dictionary, key: &[u8]) -> Option<f64> {
    number(doc, d.get(key).ok()?)
}

pub fn numbers(doc: &Document, items: &[Object]) -> Vec<f64> {
    items.iter().filter_map(|o| number(doc, o)).collect()
}

/// A stream's decoded bytes. Filters lopdf does not decode (or a broken one) leave the
/// raw bytes, which for content streams is often still readable text.
pub fn stream_bytes(s: &Stream) -> Vec<u8> {
    match s.filters() {
        Ok(f) if !f.is_empty() => {
            if f.iter().all(|n| *n == b"ASCIIHexDecode") {
                return ascii_hex(&s.content);
            }
            s.decompressed_content()
                .unwrap_or_else(|_| s.content.clone())
        }
        _ => s.content.clone(),
    }
}

fn ascii_hex(data: &[u8]) -> Vec<u8> {
    let digits: Vec<u8> = data
        .iter()
        .take_while(|&&b| b != b'>')
        .filter_map(|&b| (b as char).to_digit(16).map(|d| d as u8))
        .collect();
    digits
        .chunks(2)
        .map(|c| c[0] << 4 | c.get(1).copied().unwrap_or(0))
        .collect()
}

/// A page attribute that may be inherited from the page tree (`Resources`,
/// `MediaBox`, `CropBox`, `Rotate`).
pub fn inherited<'a>(doc: &'a Document, page: ObjectId, key: &[u8]) -> Option<&'a Object> {
    let mut node = doc.get_dictionary(page).ok()?;
    for _ in 0..TREE_DEPTH_LIMIT {
        if let Some(v) = get(doc, node, key) {
            return Some(v);
        }
        node = get_dict(doc, node, b"Parent")?;
    }
    None
}

/// A rectangle `[x0 y0 x1 y1]` normalised to (llx, lly, urx, ury).
pub fn rect(doc: &Document, obj: &Object) -> Option<[f64; 4]> {
    let Object::Array(a) = deref(doc, obj)? else {
        return None;
    };
    let v = numbers(doc, a);
    if v.len() != 4 {
        return None;
    }
    let r = [
        v[0].min(v[2]),
        v[1].min(v[3]),
        v[0].max(v[2]),
        v[1].max(v[3]),
    ];
    (r[2] - r[0] > 0.0 && r[3] - r[1] > 0.0).then_some(r)
}

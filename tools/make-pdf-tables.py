#!/usr/bin/env python3
"""Generate the data tables of the PDF text-extraction engine.

Run from the repository root, offline:

    python3 tools/make-pdf-tables.py

Writes, under src/ingest/pdf/tables/ (see LICENSES.md there for provenance):

  glyphlist.txt      Adobe Glyph List          name<TAB>HEX[ HEX...]
  encodings.txt      simple-font encodings     "# Name" sections, code<TAB>glyphname
  metrics.txt        standard-14 widths        "# FontName" sections, glyphname<TAB>width
  Adobe-GB1.cidu     CID -> Unicode            cid<TAB>HEX[<TAB>count] | cid<TAB>HEX+HEX[+...]
  Adobe-CNS1.cidu
  Adobe-Japan1.cidu
  Adobe-Korea1.cidu
  LICENSES.md

Inputs:
  * pdfminer.six (MIT): pdfminer/glyphlist.py, latin_enc.py, fontmetrics.py
  * pypdf (BSD-3), optional: pypdf/_codecs/symbol.py, the code -> Unicode table
    of the Symbol font's built-in encoding (pdfminer has none). Without pypdf the
    "# Symbol" section of encodings.txt is left out and a warning is printed.
  * Adobe's BSD-3 CMaps Adobe-<ordering>-UCS2 as shipped by Debian's
    poppler-data in /usr/share/poppler/cMap/ (never poppler's GPL-2
    cidToUnicode/ folder).

The output is deterministic (sorted, LF line endings; ASCII except LICENSES.md, UTF-8).
"""

import argparse
import gzip
import os
import re
import sys
import zlib
from pathlib import Path

import pdfminer
from pdfminer.fontmetrics import FONT_METRICS
from pdfminer.glyphlist import glyphname2unicode
from pdfminer.latin_enc import ENCODING

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "src" / "ingest" / "pdf" / "tables"
DEFAULT_CMAP_DIR = Path("/usr/share/poppler/cMap")
POPPLER_COPYRIGHT = Path("/usr/share/doc/poppler-data/copyright")

COLLECTIONS = ["Adobe-GB1", "Adobe-CNS1", "Adobe-Japan1", "Adobe-Korea1"]

STANDARD_14 = [
    "Courier", "Courier-Bold", "Courier-Oblique", "Courier-BoldOblique",
    "Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Helvetica-BoldOblique",
    "Times-Roman", "Times-Bold", "Times-Italic", "Times-BoldItalic",
    "Symbol", "ZapfDingbats",
]

# A .cidu file larger than this also gets a gzip twin (the caller decides).
GZIP_THRESHOLD = 400 * 1024

# pdfminer's FONT_METRICS keys widths by the *Unicode character* of each glyph
# (glyph name -> glyphname2unicode), not by glyph name.  To write glyph names
# back, each key is mapped to the AGL names that yield it.  Where the AGL has
# synonyms for one code point, the name used in Adobe's core AFM files is the
# one below (checked against the AFM glyph names; no width comes from here).
AFM_NAME_TIEBREAK = {
    # Latin fonts
    "Dcroat", "dcroat", "Edotaccent", "edotaccent", "Gcommaaccent",
    "gcommaaccent", "Idotaccent", "Kcommaaccent", "kcommaaccent",
    "Lcommaaccent", "lcommaaccent", "Ncommaaccent", "ncommaaccent",
    "Ohungarumlaut", "ohungarumlaut", "Rcommaaccent", "rcommaaccent",
    "Tcommaaccent", "tcommaaccent", "Uhungarumlaut", "uhungarumlaut",
    "Zdotaccent", "zdotaccent", "Delta",
    # Symbol
    "sigma1", "theta1", "Upsilon1", "phi1", "omega1", "Omega",
    "arrowdblleft", "arrowdblright", "arrowdblboth", "universal",
    "existential", "gradient", "notelement", "similar", "congruent",
    "propersubset", "propersuperset", "reflexsubset", "reflexsuperset",
    "circleplus", "circlemultiply", "integraltp", "integralbt", "spade",
    "club", "heart",
}


def warn(msg):
    print(f"make-pdf-tables: warning: {msg}", file=sys.stderr)


def hexcp(c):
    return f"{c:04X}"


def write_text(path, lines, encoding="ascii"):
    data = "".join(line + "\n" for line in lines).encode(encoding)
    path.write_bytes(data)
    return len(data)


# --------------------------------------------------------------------------
# Glyph list


def glyph_list():
    out = []
    for name in sorted(glyphname2unicode):
        cps = [ord(ch) for ch in glyphname2unicode[name]]
        for c in cps:
            if 0xD800 <= c <= 0xDFFF:
                raise SystemExit(f"glyph {name}: surrogate {c:04X}")
        out.append(f"{name}\t" + " ".join(hexcp(c) for c in cps))
    return out


# --------------------------------------------------------------------------
# Encodings

LATIN_COLUMNS = [
    ("StandardEncoding", 1),
    ("MacRomanEncoding", 2),
    ("WinAnsiEncoding", 3),
    ("PDFDocEncoding", 4),
]


def latin_encodings():
    """code -> glyph name per encoding, from pdfminer's latin_enc.ENCODING.

    Where pdfminer lists two names for one code (MacRoman 202 and WinAnsi 160:
    'nbspace' and 'space'), the later row wins, as in pdfminer's EncodingDB.
    """
    encs = {}
    conflicts = []
    for enc_name, col in LATIN_COLUMNS:
        table = {}
        for row in ENCODING:
            code = row[col]
            if code is None:
                continue
            if not 0 <= code <= 255:
                raise SystemExit(f"{enc_name}: code {code} out of range")
            if code in table and table[code] != row[0]:
                conflicts.append((enc_name, code, table[code], row[0]))
            table[code] = row[0]
        encs[enc_name] = table
    # PDF 32000-1 Annex D: WinAnsi 0xAD is the (soft) hyphen; pdfminer's table
    # has 'space' there, which would split hyphenated words.
    encs["WinAnsiEncoding"][0o255] = "hyphen"
    return encs, conflicts


def agl_reverse():
    rev = {}
    for name, s in glyphname2unicode.items():
        rev.setdefault(s, []).append(name)
    return rev


LATIN_NAMES = {row[0] for row in ENCODING}


def pick_name(candidates, what):
    """Choose the AFM glyph name among AGL synonyms."""
    if not candidates:
        raise SystemExit(f"{what}: no AGL name")
    latin = [n for n in candidates if n in LATIN_NAMES]
    if len(latin) == 1:
        return latin[0]
    if len(candidates) == 1:
        return candidates[0]
    pref = [n for n in candidates if n in AFM_NAME_TIEBREAK]
    if len(pref) != 1:
        raise SystemExit(f"{what}: ambiguous AGL names {sorted(candidates)}")
    return pref[0]


def font_widths(rev):
    """glyph name -> width for each standard-14 font, from pdfminer."""
    fonts = {}
    for font in STANDARD_14:
        _descriptor, widths = FONT_METRICS[font]
        named = {}
        for key, width in widths.items():
            if font == "ZapfDingbats":
                # pdfminer's ZapfDingbats keys are chr(N) for the glyph 'aN'
                # (the a-names are not in its glyph list).  Its 'space' was
                # overwritten by a32 (both became chr(32)), so it is lost.
                name = f"a{ord(key)}"
            else:
                name = pick_name(rev.get(key, []), f"{font} U+{ord(key):04X}")
            if name in named:
                raise SystemExit(f"{font}: glyph {name} twice")
            named[name] = width
        fonts[font] = named
    return fonts


def symbol_encoding(symbol_names):
    """code -> glyph name for the Symbol font's built-in encoding.

    pypdf's _symbol_encoding gives code -> Unicode (from Symbol.afm and the
    AGL); each Unicode value is mapped back to the one Symbol glyph name that
    yields it under pdfminer's or pypdf's glyph list.  pypdf fills undefined
    codes with chr(code); those match no Symbol glyph and are dropped.
    """
    try:
        from pypdf._codecs import adobe_glyphs
        from pypdf._codecs.symbol import _symbol_encoding
    except ImportError:
        warn("pypdf not importable: encodings.txt gets no '# Symbol' section")
        return None
    # pypdf's symbol.py says: "The glyph name mu is mapped to U+03BC GREEK
    # SMALL LETTER MU instead of U+00B5 MICRO SIGN."
    pypdf_deviations = {"mu": "\u03bc"}
    table = {}
    for code in range(256):
        u = _symbol_encoding[code]
        names = [n for n in symbol_names
                 if glyphname2unicode.get(n) == u or adobe_glyphs.get("/" + n) == u
                 or pypdf_deviations.get(n) == u]
        if len(names) > 1:
            raise SystemExit(f"Symbol code {code}: ambiguous {names}")
        if names:
            table[code] = names[0]
        elif ord(u) != code:
            raise SystemExit(f"Symbol code {code}: U+{ord(u):04X} is no Symbol glyph")
    return table


def format_width(w):
    if isinstance(w, float) and w.is_integer():
        return str(int(w))
    return str(w)


# --------------------------------------------------------------------------
# CMaps

TOKEN_RE = re.compile(rb"<([0-9A-Fa-f\s]*)>|\[|\]|\([^)]*\)|/[^\s/\[\]<>()]+|[^\s/\[\]<>()]+")


def cmap_tokens(data):
    data = re.sub(rb"%[^\r\n]*", b"", data)
    for m in TOKEN_RE.finditer(data):
        if m.group(1) is not None:
            yield ("hex", bytes.fromhex(m.group(1).decode("ascii")))
        else:
            yield ("tok", m.group(0))


def utf16_to_cps(b):
    if len(b) % 2:
        raise ValueError(f"odd-length UTF-16 <{b.hex()}>")
    return [ord(ch) for ch in b.decode("utf-16-be")]  # strict: no lone surrogates


def parse_tounicode_cmap(path):
    """Returns (mapping cid -> tuple of code points, stats dict)."""
    toks = list(cmap_tokens(path.read_bytes()))
    mapping = {}
    stats = {"duplicates": 0, "range_carry": 0, "bfchar": 0, "bfrange": 0,
             "bfrange_array": 0, "wmode": None, "cmapname": None, "version": None}
    i = 0

    def setmap(cid, dst):
        if cid in mapping:
            stats["duplicates"] += 1
        mapping[cid] = tuple(utf16_to_cps(dst))

    while i < len(toks):
        kind, val = toks[i]
        if kind == "tok" and val == b"/WMode":
            stats["wmode"] = int(toks[i + 1][1])
        elif kind == "tok" and val == b"/CMapName":
            stats["cmapname"] = toks[i + 1][1].decode()
        elif kind == "tok" and val == b"/CMapVersion":
            stats["version"] = toks[i + 1][1].decode()
        elif kind == "tok" and val in (b"usecmap", b"begincidchar", b"begincidrange",
                                       b"beginnotdefchar", b"beginnotdefrange"):
            raise SystemExit(f"{path}: unsupported operator {val.decode()}")
        elif kind == "tok" and val == b"beginbfchar":
            i += 1
            while toks[i] != ("tok", b"endbfchar"):
                (k1, src), (k2, dst) = toks[i], toks[i + 1]
                if k1 != "hex" or k2 != "hex":
                    raise SystemExit(f"{path}: unexpected bfchar entry {toks[i:i+2]}")
                setmap(int.from_bytes(src, "big"), dst)
                stats["bfchar"] += 1
                i += 2
        elif kind == "tok" and val == b"beginbfrange":
            i += 1
            while toks[i] != ("tok", b"endbfrange"):
                (k1, lo), (k2, hi) = toks[i], toks[i + 1]
                if k1 != "hex" or k2 != "hex":
                    raise SystemExit(f"{path}: unexpected bfrange entry {toks[i:i+3]}")
                lo, hi = int.from_bytes(lo, "big"), int.from_bytes(hi, "big")
                stats["bfrange"] += 1
                if toks[i + 2] == ("tok", b"["):
                    stats["bfrange_array"] += 1
                    j = i + 3
                    cid = lo
                    while toks[j] != ("tok", b"]"):
                        setmap(cid, toks[j][1])
                        cid += 1
                        j += 1
                    if cid != hi + 1:
                        raise SystemExit(f"{path}: bfrange array length mismatch at {lo:04X}")
                    i = j + 1
                    continue
                kind3, dst = toks[i + 2]
                if kind3 != "hex":
                    raise SystemExit(f"{path}: unexpected bfrange destination {toks[i+2]}")
                base = int.from_bytes(dst, "big")
                if (dst[-1] + (hi - lo)) > 0xFF:
                    stats["range_carry"] += 1  # spec: only the last byte varies
                for k in range(hi - lo + 1):
                    setmap(lo + k, (base + k).to_bytes(len(dst), "big"))
                i += 3
        i += 1
    return mapping, stats


def cidu_lines(mapping):
    lines = []
    run = None  # [cid, cp, count]

    def flush():
        if run:
            cid, cp, n = run
            lines.append(f"{cid}\t{hexcp(cp)}" + (f"\t{n}" if n > 1 else ""))

    for cid in sorted(mapping):
        cps = mapping[cid]
        if len(cps) == 1:
            cp = cps[0]
            if run and cid == run[0] + run[2] and cp == run[1] + run[2]:
                run[2] += 1
                continue
            flush()
            run = [cid, cp, 1]
        else:
            flush()
            run = None
            lines.append(f"{cid}\t" + "+".join(hexcp(c) for c in cps))
    flush()
    return lines


# --------------------------------------------------------------------------
# Licences


def poppler_cmap_notice():
    text = POPPLER_COPYRIGHT.read_text(encoding="utf-8")
    paras = re.split(r"\n(?=Files:)", text)
    for p in paras:
        if p.startswith("Files:") and "cMap/*" in p.splitlines()[0]:
            return p.strip("\n")
    raise SystemExit(f"{POPPLER_COPYRIGHT}: no 'Files: cMap/*' section")


def cmap_header_copyright(path):
    out = []
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith("%%Copyright:"):
            out.append(line[len("%%Copyright:"):].strip())
    return next((line for line in out if line.startswith("Copyright")), "")


def pdfminer_license():
    import importlib.metadata as md
    dist = md.distribution("pdfminer.six")
    for f in dist.files or []:
        if f.name.upper().startswith("LICENSE"):
            return Path(dist.locate_file(f)).read_text(encoding="utf-8").strip("\n"), dist.version
    raise SystemExit("pdfminer.six LICENSE not found in its dist-info")


def pypdf_license():
    try:
        import importlib.metadata as md
        dist = md.distribution("pypdf")
    except Exception:
        return None, None
    for f in dist.files or []:
        if f.name.upper().startswith("LICENSE"):
            return Path(dist.locate_file(f)).read_text(encoding="utf-8").strip("\n"), dist.version
    return None, dist.version


def source_block(module_file, begin, end):
    """The verbatim notice block of a pdfminer source file."""
    text = Path(module_file).read_text(encoding="utf-8")
    s = text.index(begin)
    e = text.index(end, s)
    return text[s:e].rstrip("\n")


def licenses_md(files, cmap_dir, symbol_from_pypdf):
    mit, pm_version = pdfminer_license()
    pm_dir = Path(pdfminer.__file__).parent
    agl_notice = source_block(pm_dir / "glyphlist.py",
                              "# Copyright (c) 1997,1998,2002,2007 Adobe",
                              "\n\ndef ")
    afm_notice = source_block(pm_dir / "fontmetrics.py",
                              "# Adobe Core 35 AFM Files", "###  END")
    L = []
    L.append("# Provenance and licences of the PDF data tables")
    L.append("")
    L.append("All files in this folder are generated by `tools/make-pdf-tables.py` "
             "(run `python3 tools/make-pdf-tables.py` from the repository root). "
             "They are data derived from the third-party sources below, under the "
             "licences reproduced here; the rest of the crate is Apache-2.0.")
    L.append("")
    L.append("| File | Derived from | Licence |")
    L.append("|---|---|---|")
    L.append(f"| `glyphlist.txt` | pdfminer.six {pm_version} `pdfminer/glyphlist.py` "
             "(Adobe Glyph List 2.0, 2002-09-20) | MIT (pdfminer.six) + Adobe AGL notice |")
    L.append(f"| `encodings.txt` Standard/MacRoman/WinAnsi/PDFDoc | pdfminer.six "
             f"`pdfminer/latin_enc.py` (PDF Reference 1.6, Appendix D.1) | MIT (pdfminer.six) |")
    if symbol_from_pypdf:
        L.append(f"| `encodings.txt` Symbol | pypdf {symbol_from_pypdf} `pypdf/_codecs/symbol.py` "
                 "(code -> Unicode, from Adobe's Symbol.afm) mapped to glyph names with the "
                 "pdfminer.six glyph list and Symbol metrics | BSD-3-Clause (pypdf) + MIT "
                 "(pdfminer.six) + Adobe AFM notice |")
    L.append(f"| `metrics.txt` | pdfminer.six `pdfminer/fontmetrics.py` (Adobe Core 35 AFM files); "
             "widths unchanged, glyph names recovered through the glyph list | MIT (pdfminer.six) "
             "+ Adobe AFM notice |")
    for coll in COLLECTIONS:
        src = cmap_dir / coll / f"{coll}-UCS2"
        L.append(f"| `{coll}.cidu`" + (f", `{coll}.cidu.gz`" if f"{coll}.cidu.gz" in files else "")
                 + f" | Adobe CMap `{coll}-UCS2` (Debian poppler-data, `{src}`); "
                 f"{cmap_header_copyright(src)} | BSD-3-Clause (Adobe) |")
    L.append("")
    L.append("Poppler's `cidToUnicode/` tables (GPL-2) were **not** used.")
    L.append("")
    L.append("Modifications: the tables were converted from their original formats "
             "(Python sources, PostScript CMap resources) to the plain-text formats "
             "described in the generator; values were not changed except where the "
             "generator documents it (glyph names recovered for pdfminer's "
             "Unicode-keyed widths; WinAnsi 0xAD set to `hyphen` as PDF 32000-1 "
             "Annex D has it; the Euro's width added to the 12 Latin fonts from "
             "Adobe's current Core 14 metrics).")
    L.append("")
    L.append("## Adobe CMaps (Adobe-GB1/CNS1/Japan1/Korea1-UCS2)")
    L.append("")
    L.append(f"From `{POPPLER_COPYRIGHT}`, section `Files: cMap/*`, verbatim:")
    L.append("")
    L.append("```")
    L.append(poppler_cmap_notice())
    L.append("```")
    L.append("")
    L.append("## pdfminer.six (glyphlist.txt, encodings.txt, metrics.txt)")
    L.append("")
    L.append("```")
    L.append(mit)
    L.append("```")
    L.append("")
    L.append("### Adobe Glyph List notice (carried by pdfminer/glyphlist.py)")
    L.append("")
    L.append("```")
    L.append(agl_notice)
    L.append("```")
    L.append("")
    L.append("### Adobe AFM notice (carried by pdfminer/fontmetrics.py)")
    L.append("")
    L.append("metrics.txt (and the Symbol section of encodings.txt) are modified "
             "extracts of the AFM data: only the advance widths (resp. code "
             "assignments), keyed by glyph name, are kept.")
    L.append("")
    L.append("```")
    L.append(afm_notice)
    L.append("```")
    if symbol_from_pypdf:
        bsd, _ = pypdf_license()
        L.append("")
        L.append("## pypdf (Symbol section of encodings.txt)")
        L.append("")
        L.append("```")
        L.append(bsd or "(pypdf LICENSE file not found in its dist-info)")
        L.append("```")
    return L


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cmap-dir", type=Path, default=DEFAULT_CMAP_DIR)
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    sizes = {}

    sizes["glyphlist.txt"] = write_text(out / "glyphlist.txt", glyph_list())

    rev = agl_reverse()
    widths = font_widths(rev)

    encs, conflicts = latin_encodings()
    for enc_name, code, old, new in conflicts:
        print(f"note: {enc_name} code {code}: pdfminer lists '{old}' and '{new}'; kept '{new}'")
    sym = symbol_encoding(set(widths["Symbol"]))
    symbol_from_pypdf = None
    if sym is not None:
        encs["Symbol"] = sym
        import importlib.metadata as md
        symbol_from_pypdf = md.version("pypdf")
    lines = []
    for enc_name, table in encs.items():
        lines.append(f"# {enc_name}")
        lines += [f"{code}\t{table[code]}" for code in sorted(table)]
    sizes["encodings.txt"] = write_text(out / "encodings.txt", lines)

    # pdfminer's AFM set predates the Euro; WinAnsi 0x80 needs its width. Values from
    # Adobe's current Core 14 AFMs (Helvetica 556, Times 500, Courier 600 in all styles).
    for font in STANDARD_14:
        family = font.split("-")[0]
        euro = {"Helvetica": 556, "Times": 500, "Courier": 600}.get(family)
        if euro is not None:
            widths[font].setdefault("Euro", euro)
    lines = []
    for font in STANDARD_14:
        lines.append(f"# {font}")
        lines += [f"{n}\t{format_width(w)}" for n, w in sorted(widths[font].items())]
    sizes["metrics.txt"] = write_text(out / "metrics.txt", lines)

    for coll in COLLECTIONS:
        src = args.cmap_dir / coll / f"{coll}-UCS2"
        mapping, st = parse_tounicode_cmap(src)
        lines = cidu_lines(mapping)
        name = f"{coll}.cidu"
        sizes[name] = write_text(out / name, lines)
        multi = sum(1 for v in mapping.values() if len(v) > 1)
        astral = sum(1 for v in mapping.values() if any(c > 0xFFFF for c in v))
        print(f"{coll}: {st['cmapname']} v{st['version']} WMode={st['wmode']}: "
              f"{len(mapping)} CIDs mapped (max CID {max(mapping)}), {len(lines)} lines, "
              f"{multi} multi-code-point, {astral} beyond BMP, {st['duplicates']} redefined, "
              f"{st['range_carry']} ranges crossing a byte")
        gz = out / f"{name}.gz"
        if sizes[name] > GZIP_THRESHOLD:
            data = (out / name).read_bytes()
            with open(gz, "wb") as fh:
                with gzip.GzipFile(filename=name, mode="wb", fileobj=fh, mtime=0, compresslevel=9) as z:
                    z.write(data)
            sizes[name + ".gz"] = gz.stat().st_size
            print(f"  {name} is over {GZIP_THRESHOLD} bytes: also wrote {gz.name} "
                  f"({sizes[name + '.gz']} bytes; raw deflate {len(zlib.compress(data, 9)) - 6})")
        elif gz.exists():
            gz.unlink()

    sizes["LICENSES.md"] = write_text(out / "LICENSES.md",
                                      licenses_md(sizes, args.cmap_dir, symbol_from_pypdf),
                                      encoding="utf-8")
    for name, size in sizes.items():
        print(f"{size:>9}  {out / name}")


if __name__ == "__main__":
    main()

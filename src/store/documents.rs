//! The `documents` table: extracted documents keyed by the sha256 of the file bytes.
use rusqlite::{params, OptionalExtension};

use super::{now_ms, to_json, Store, StoreError};
use crate::Document;

impl Store {
    /// Stores (or replaces) an extracted document under the hash of its file bytes.
    /// Replacing keeps the jobs that refer to it: re-extraction with a better parser
    /// updates the blocks in place.
    pub fn put_document(&self, doc: &Document, sha256: &str) -> Result<(), StoreError> {
        let json = to_json("document", doc)?;
        let format = serde_json::to_value(doc.format)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO documents (sha256, name, source, format, pages, document_json, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(sha256) DO UPDATE SET
                    name = excluded.name, source = excluded.source, format = excluded.format,
                    pages = excluded.pages, document_json = excluded.document_json",
                params![sha256, doc.name, doc.source, format, doc.pages, json, now_ms()],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// The stored document with this hash, blocks included.
    pub fn get_document(&self, sha256: &str) -> Result<Document, StoreError> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT document_json FROM documents WHERE sha256 = ?1",
                [sha256],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let json = json.ok_or_else(|| StoreError::NoSuchDocument(sha256.to_string()))?;
        serde_json::from_str(&json).map_err(|e| self.corrupt("document", e))
    }
}

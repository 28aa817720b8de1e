//! The `speed` table: each model's measured speed on this machine, so a plan
//! can say how long it will take before anything runs.
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{now_ms, Store, StoreError};

/// Tokens per second a model reached here.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpeedRecord {
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
}

/// Weight of the newest measurement in the stored average: one odd run (a
/// busy machine) moves the estimate, it does not replace it.
const NEWEST_WEIGHT: f64 = 0.5;

impl Store {
    /// The speed last measured for `model_id`, if any.
    pub fn speed(&self, model_id: &str) -> Result<Option<SpeedRecord>, StoreError> {
        self.conn
            .query_row(
                "SELECT prefill_tokens_per_s, decode_tokens_per_s FROM speed WHERE model_id = ?1",
                [model_id],
                |r| {
                    Ok(SpeedRecord {
                        prefill_tokens_per_s: r.get(0)?,
                        decode_tokens_per_s: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Blends a measurement into `model_id`'s record (a moving average).
    /// Measurements without both speeds are ignored.
    pub fn record_speed(&self, model_id: &str, measured: SpeedRecord) -> Result<(), StoreError> {
        if !(measured.prefill_tokens_per_s > 0.0 && measured.decode_tokens_per_s > 0.0) {
            return Ok(());
        }
        self.conn
            .execute(
                "INSERT INTO speed (model_id, prefill_tokens_per_s, decode_tokens_per_s, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(model_id) DO UPDATE SET
                    prefill_tokens_per_s = (1 - ?5) * prefill_tokens_per_s + ?5 * excluded.prefill_tokens_per_s,
                    decode_tokens_per_s = (1 - ?5) * decode_tokens_per_s + ?5 * excluded.decode_tokens_per_s,
                    updated_at = excluded.updated_at",
                params![
                    model_id,
                    measured.prefill_tokens_per_s,
                    measured.decode_tokens_per_s,
                    now_ms(),
                    NEWEST_WEIGHT
                ],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_blends() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(&d.path().join("db")).unwrap();
        assert!(store.speed("m").unwrap().is_none());
        let at = |p, d| SpeedRecord {
            prefill_tokens_per_s: p,
            decode_tokens_per_s: d,
        };
        store.record_speed("m", at(100.0, 10.0)).unwrap();
        store.record_speed("m", at(300.0, 30.0)).unwrap();
        store.record_speed("m", at(0.0, 99.0)).unwrap(); // no prefill measured: ignored
        assert_eq!(store.speed("m").unwrap(), Some(at(200.0, 20.0)));
        assert!(store.speed("other").unwrap().is_none());
    }
}

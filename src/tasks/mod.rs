//! Plan -> Output: summaries (whole, head-tail, map-reduce) and block-by-block
//! translations, run as resumable jobs in the store, checked by the figure
//! checker when they finish.
mod deliver;
mod engine;
mod events;
pub mod glossary;
mod progress;
mod result;
mod runner;
pub mod summarize;
pub mod translate;

use crate::ingest::IngestError;
use crate::model::{GenerateError, ModelError};
use crate::plan::PlanError;
use crate::store::{JobId, JobStatus, StoreError};

pub use deliver::export_result;
pub use engine::{ChatTurn, JobEngine, ServerEngine, Written, REPEAT_LAST_N};
pub use events::JobEvent;
pub use glossary::{Glossary, GlossaryError};
pub use progress::{JobProgress, Reading, Stage, READING_SHARE};
pub use result::{FigureMark, Findings, JobResult, MarkCounts, SourceFigure};
pub use runner::{
    edit_translation, job_settings, load_result, measured_speed, model_id, run_job, speed_of,
    submit, submit_planned, JobOutcome, JobRequest, JobSettings, ServerRef, REPETITION_PENALTY,
};

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Glossary(#[from] GlossaryError),
    #[error("job {job} cannot be used: {detail}")]
    BadJob { job: JobId, detail: String },
    #[error("job {job} is {status}, not done: `reportlens resume {job}` finishes it")]
    NotFinished { job: JobId, status: JobStatus },
    #[error("the model wrote nothing for the final pass ({pass}); try another model or a smaller --context")]
    EmptyOutput { pass: usize },
    #[error("a bilingual export needs a translation; export a summary as Markdown or DOCX")]
    BilingualNeedsTranslation,
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    #[error("the server cannot count tokens (it has no /tokenize) and no local copy of its model was given to count with; set the model in Settings or pass --model")]
    NoTokenCount,
    #[error("internal error: this engine writes one answer at a time")]
    OneAnswerAtATime,
}

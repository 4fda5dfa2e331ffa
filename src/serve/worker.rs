//! The GPU thread: it owns every model's compiled inference session and
//! answers jobs from a bounded queue, merging the rows of jobs that arrive
//! together (up to `max_batch` rows, waiting at most `max_delay` for more)
//! into one replay per model. A job's rows stay together and its answer is
//! the rows' own: each row's outputs depend on that row alone.

use super::stats::Stats;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::model::explain::{explain_normalized, Baseline, Method, Rule, Target};
use crate::model::infer::Session;
use crate::model::{Inference, TrainedModel};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a job asks for.
pub struct Job {
    /// Index of the model in the registry.
    pub model: usize,
    /// Normalized rows, rows x features.
    pub inputs: Vec<f32>,
    /// Attributions too (integrated gradients).
    pub explain: bool,
    /// Where the answer goes.
    pub reply: tokio::sync::oneshot::Sender<Result<Answer>>,
}

/// A job's answer.
pub struct Answer {
    /// The model's outputs on the job's rows.
    pub inference: Inference,
    /// Integrated-gradient attributions, rows x features, when asked.
    pub attributions: Option<Vec<f64>>,
    /// Rows of the replay the job's rows went into.
    pub batch_rows: usize,
}

/// How the thread batches.
#[derive(Clone, Copy, Debug)]
pub struct Batching {
    /// Most rows per replay.
    pub max_batch: usize,
    /// Longest wait for more jobs after the first.
    pub max_delay: Duration,
}

/// Compiles every model's session, says the server is ready, gives
/// `on_loaded` each model's load result, then answers jobs until the
/// queue's senders are gone.
pub fn run(
    gpu: Arc<Gpu>,
    models: Vec<Arc<TrainedModel>>,
    batching: Batching,
    jobs: Receiver<Job>,
    ready: Arc<AtomicBool>,
    stats: Arc<Stats>,
    on_loaded: &mut dyn FnMut(Vec<Result<()>>),
) {
    let mut sessions: Vec<Option<Session>> = Vec::new();
    let mut results = Vec::new();
    for m in &models {
        match Session::new(gpu.clone(), m, batching.max_batch) {
            Ok(s) => {
                sessions.push(Some(s));
                results.push(Ok(()));
            }
            Err(e) => {
                sessions.push(None);
                results.push(Err(e));
            }
        }
    }
    ready.store(true, Ordering::SeqCst);
    on_loaded(results);
    while let Ok(first) = jobs.recv() {
        stats.dequeued(1);
        let mut batch = vec![first];
        let deadline = Instant::now() + batching.max_delay;
        while batch.iter().map(|j| j.inputs.len()).sum::<usize>() < batching.max_batch * cols(&models, &batch)
        {
            let wait = deadline.saturating_duration_since(Instant::now());
            match jobs.recv_timeout(wait) {
                Ok(j) => {
                    stats.dequeued(1);
                    batch.push(j);
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        answer(&gpu, &models, &mut sessions, batch, &ready, &stats);
    }
}

/// Features of the first job's model (the batch limit counts its rows).
fn cols(models: &[Arc<TrainedModel>], batch: &[Job]) -> usize {
    models[batch[0].model].file.encoding.num_features().max(1)
}

/// Runs a batch: one replay per model over all its jobs' rows, then each
/// job's share of the outputs back to it.
fn answer(
    gpu: &Arc<Gpu>,
    models: &[Arc<TrainedModel>],
    sessions: &mut [Option<Session>],
    batch: Vec<Job>,
    ready: &AtomicBool,
    stats: &Stats,
) {
    let mut by_model: Vec<(usize, Vec<Job>)> = Vec::new();
    for j in batch {
        match by_model.iter_mut().find(|(m, _)| *m == j.model) {
            Some((_, jobs)) => jobs.push(j),
            None => by_model.push((j.model, vec![j])),
        }
    }
    for (m, jobs) in by_model {
        let Some(session) = sessions[m].as_mut() else {
            for j in jobs {
                let _ = j.reply.send(Err(Error::Model("the model did not load".into())));
            }
            continue;
        };
        let cols = models[m].file.encoding.num_features().max(1);
        let all: Vec<f32> = jobs.iter().flat_map(|j| j.inputs.iter().copied()).collect();
        let rows = all.len() / cols;
        stats.batch(rows);
        let result = session.run(&all);
        if let Err(Error::DeviceLost(why)) = &result {
            ready.store(false, Ordering::SeqCst);
            log::error!("GPU device lost ({why}): not ready; requests get 503");
        }
        match result {
            Ok(inf) => split(gpu, &models[m], inf, jobs, rows),
            Err(e) => {
                let msg = e.to_string();
                let lost = matches!(e, Error::DeviceLost(_));
                for j in jobs {
                    let err = if lost { Error::DeviceLost(msg.clone()) } else { Error::Gpu(msg.clone()) };
                    let _ = j.reply.send(Err(err));
                }
            }
        }
    }
}

/// Gives each job its rows of `inf` (and its attributions when asked).
fn split(gpu: &Arc<Gpu>, model: &Arc<TrainedModel>, inf: Inference, jobs: Vec<Job>, batch_rows: usize) {
    let f = model.file.encoding.num_features().max(1);
    let (oc, code_cols) = (inf.cols, inf.code.as_ref().map(|(c, _)| *c));
    let mut at = 0;
    for j in jobs {
        let n = j.inputs.len() / f;
        let code = inf.code.as_ref().zip(code_cols).map(|((_, v), c)| (c, v[at * c..(at + n) * c].to_vec()));
        let inference = Inference {
            outputs: inf.outputs[at * oc..(at + n) * oc].to_vec(),
            cols: oc,
            code,
            inputs: j.inputs.clone(),
        };
        at += n;
        let attributions = if j.explain {
            let method = match model.file.task {
                crate::data::Task::Reconstruct => Method::ErrorShare,
                _ => Method::IntegratedGradients {
                    steps: 50,
                    rule: Rule::GaussLegendre,
                    baseline: Baseline::TrainMean,
                },
            };
            match explain_normalized(gpu.clone(), model, j.inputs.clone(), Target::Default, &method) {
                Ok(e) => Some(e.attributions),
                Err(e) => {
                    let _ = j.reply.send(Err(e));
                    continue;
                }
            }
        } else {
            None
        };
        let _ = j.reply.send(Ok(Answer { inference, attributions, batch_rows }));
    }
}

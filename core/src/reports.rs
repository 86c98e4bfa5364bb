//! How replies end on the frame side: each ends exactly once with a [`ReplyOutcome`],
//! published as an event and to its `Playback` futures. With a sink that owns playback (an
//! avatar) attached, the outcome waits for that sink's report, or for the report timeout
//! (media time, counted in frames), after which the track's own count is published as an
//! estimate.

use std::sync::Arc;

use crate::events::EventSender;
use crate::outcome::{Position, ReplyOutcome};
use crate::reply_state::ReplyState;
use crate::shared::{Counters, Shared};
use crate::sink::PlaybackReport;
use crate::sink_tap::Tap;

/// Owning-sink replies awaiting a playback report at once.
const PENDING_REPORTS: usize = 8;

/// An owning sink's reply awaiting its playback report.
struct PendingReport {
    state: Arc<ReplyState>,
    outcome: ReplyOutcome,
    deadline_frame: u64,
}

pub(crate) struct Outcomes {
    /// What owning sinks need, created when the first attaches (boxed: most tracks never
    /// have one, and this state is per track).
    owning: Option<Box<Owning>>,
    /// The newest reply whose outcome is published: later reports for it are stale.
    last_ended: u64,
    timeout_frames: u64,
}

#[derive(Default)]
struct Owning {
    /// Sinks attached that own playback.
    owners: usize,
    /// Owning sinks' replies awaiting a report; capacity reserved when such a sink attaches.
    pending: Vec<PendingReport>,
    /// Reports that arrived before their reply ended here (an ahead-delivering avatar can
    /// finish playing before the frame side reaches the reply's end).
    early: Vec<PlaybackReport>,
}

impl Outcomes {
    pub(crate) fn new(timeout_frames: u64) -> Self {
        Self {
            owning: None,
            last_ended: 0,
            timeout_frames,
        }
    }

    /// True while a sink that owns playback is attached (the output then carries no speech).
    pub(crate) fn has_owner(&self) -> bool {
        self.owning.as_ref().is_some_and(|o| o.owners > 0)
    }

    pub(crate) fn owner_attached(&mut self) {
        // Attaching is a control event: allocate and reserve here, never while playing.
        let owning = self.owning.get_or_insert_with(Box::default);
        owning.owners += 1;
        owning.pending.reserve(PENDING_REPORTS);
        owning.early.reserve(PENDING_REPORTS);
    }

    pub(crate) fn owner_detached(&mut self) {
        if let Some(owning) = self.owning.as_mut() {
            owning.owners -= 1;
        }
    }

    /// A reply ended here, having played `played_samples`: publish its outcome now, or hold
    /// it for an owning sink's report.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn ended(
        &mut self,
        shared: &Shared,
        state: Arc<ReplyState>,
        played_samples: u64,
        interrupted: bool,
        pts: u64,
        frame_index: u64,
        events: &mut EventSender,
    ) {
        let outcome = ReplyOutcome {
            reply: state.id,
            played_samples,
            played: shared.format.duration_of(played_samples),
            interrupted,
            position: Position::Exact,
            pts,
            loudness: state.loudness(),
            heard: None,
        };
        let deadline_frame = frame_index + self.timeout_frames;
        let Some(owning) = self.owning.as_mut().filter(|o| o.owners > 0) else {
            return self.publish(shared, &state, outcome, events);
        };
        if let Some(i) = owning.early.iter().position(|r| r.reply == outcome.reply) {
            let report = owning.early.swap_remove(i);
            let outcome = self.reported(shared, outcome, &report, pts);
            return self.publish(shared, &state, outcome, events);
        }
        if owning.pending.len() < PENDING_REPORTS {
            owning.pending.push(PendingReport {
                state,
                outcome,
                deadline_frame,
            });
        } else {
            let outcome = ReplyOutcome {
                position: Position::Estimated,
                ..outcome
            };
            self.publish(shared, &state, outcome, events);
        }
    }

    /// Owning sinks' reports, and timeouts for replies whose report never comes.
    pub(crate) fn poll(
        &mut self,
        shared: &Shared,
        taps: &mut [Tap],
        frame_index: u64,
        pts: u64,
        events: &mut EventSender,
    ) {
        let Some(mut owning) = self.owning.take() else {
            // No sink ever owned playback: every reply's outcome was published as it
            // ended, so a report (which only an owning sink has reason to send) is stale.
            for tap in taps.iter_mut() {
                while tap.next_report().is_some() {}
            }
            return;
        };
        for tap in taps.iter_mut() {
            while let Some(report) = tap.next_report() {
                let Some(i) = owning
                    .pending
                    .iter()
                    .position(|p| p.outcome.reply == report.reply)
                else {
                    // Not ended here yet: keep it (bounded) until the reply ends.
                    let stale = report.reply.0 <= self.last_ended;
                    if !stale && owning.early.len() < PENDING_REPORTS {
                        owning.early.push(report);
                    }
                    continue;
                };
                let p = owning.pending.swap_remove(i);
                let outcome = self.reported(shared, p.outcome, &report, pts);
                self.publish(shared, &p.state, outcome, events);
            }
        }
        let mut i = 0;
        while i < owning.pending.len() {
            if frame_index < owning.pending[i].deadline_frame {
                i += 1;
                continue;
            }
            let p = owning.pending.swap_remove(i);
            let outcome = ReplyOutcome {
                position: Position::Estimated,
                ..p.outcome
            };
            self.publish(shared, &p.state, outcome, events);
        }
        // Put back: moving the box allocates nothing.
        self.owning = Some(owning);
    }

    /// The track is gone: wake whoever awaits a held outcome (it resolves to `None`).
    pub(crate) fn close(&self) {
        for p in self.owning.iter().flat_map(|o| &o.pending) {
            p.state.wake_closed();
        }
    }

    /// The outcome an owning sink's report establishes.
    fn reported(
        &self,
        shared: &Shared,
        outcome: ReplyOutcome,
        report: &PlaybackReport,
        pts: u64,
    ) -> ReplyOutcome {
        ReplyOutcome {
            played_samples: report.played_samples,
            played: shared.format.duration_of(report.played_samples),
            interrupted: report.interrupted || outcome.interrupted,
            position: Position::Reported,
            pts,
            ..outcome
        }
    }

    fn publish(
        &mut self,
        shared: &Shared,
        state: &Arc<ReplyState>,
        outcome: ReplyOutcome,
        events: &mut EventSender,
    ) {
        self.last_ended = self.last_ended.max(outcome.reply.0);
        let c = &shared.counters;
        Counters::count(if outcome.interrupted {
            &c.replies_interrupted
        } else {
            &c.replies_completed
        });
        state.complete(&outcome);
        events.finished(shared, outcome, state);
    }
}

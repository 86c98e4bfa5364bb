//! A reply's text: marks (pieces of text at media offsets, added by the producer with the
//! audio) and the whole text for an estimate, and what of it was heard.
//!
//! The text lives on the control side ([`TextLog`], inside the reply's shared state, behind
//! a lock the frame side never takes). A mark travels to the frame side as a [`MarkPos`]
//! (reply, offset and a shared handle to its text) through the intake's mark ring, entering
//! it no later than the audio that carries its offset, so pause, interrupt and the start
//! threshold cannot separate them; the frame side only moves and clones those handles.

use std::sync::Arc;

use crate::{Error, ReplyId};

/// The most marks the intake's mark ring holds (2 KB per track, with the first reply).
pub(crate) const MARK_SLOTS: usize = 64;
/// The most marks one piece of pushed audio carries: a push with more is split, so the
/// ring fills a piece at a time and playback never waits for a whole ring to drain. Also
/// the most marks one sample offset may carry (so the split always makes progress).
pub(crate) const MARKS_PER_PIECE: usize = MARK_SLOTS / 4;

/// How a reply's heard text was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TextTiming {
    /// From the producer's marks: exactly the marks whose first sample was played.
    Marks,
    /// From the whole text, without timings: split at word boundaries in proportion to the
    /// share of the reply's audio that was played ([`estimate_heard`]).
    Estimated,
}

/// What the listener heard of a reply that carried text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// The marks played, concatenated with the producer's own spacing (or the estimate).
    pub text: String,
    /// How many marks were played (0 for an estimate).
    pub marks: u32,
    /// Exact (marks) or estimated.
    pub timing: TextTiming,
}

/// One mark on its way to the frame side.
#[derive(Debug, Clone)]
pub(crate) struct MarkPos {
    pub(crate) reply: ReplyId,
    /// Samples per channel from the reply's first sample.
    pub(crate) offset: u64,
    pub(crate) text: Arc<str>,
}

/// A reply's text on the control side.
#[derive(Debug, Default)]
pub(crate) struct TextLog {
    /// Marks in playing order (offsets never decrease).
    offsets: Vec<u64>,
    texts: Vec<Arc<str>>,
    /// Marks before this index went into the mark ring with their audio.
    sent: usize,
    /// Marks at the newest offset (bounded by [`MARKS_PER_PIECE`]).
    same_offset: usize,
    whole: Option<String>,
}

impl TextLog {
    /// Add a mark at `offset`, not before `accepted` (audio already pushed: the mark could
    /// no longer travel with it) nor before the previous mark.
    pub(crate) fn add(
        &mut self,
        reply: ReplyId,
        offset: u64,
        text: &str,
        accepted: u64,
    ) -> Result<(), Error> {
        if offset < accepted {
            return Err(Error::MarkBehindAudio {
                reply,
                offset,
                accepted,
            });
        }
        let last = self.offsets.last().copied();
        if last.is_some_and(|last| offset < last) {
            return Err(Error::MarkOutOfOrder {
                reply,
                offset,
                previous: last.unwrap_or(0),
            });
        }
        self.same_offset = if last == Some(offset) {
            self.same_offset + 1
        } else {
            1
        };
        if self.same_offset > MARKS_PER_PIECE {
            self.same_offset -= 1;
            return Err(Error::TooManyMarks { reply, offset });
        }
        self.offsets.push(offset);
        self.texts.push(Arc::from(text));
        Ok(())
    }

    /// Set the reply's whole text (used for an estimate when there are no marks).
    pub(crate) fn set_whole(&mut self, text: String) {
        self.whole = Some(text);
    }

    /// True while some mark has not entered the ring yet.
    pub(crate) fn has_unsent(&self) -> bool {
        self.sent < self.offsets.len()
    }

    /// Marks not yet sent whose offset lies before `end`: they must enter the ring before
    /// audio up to `end` does.
    pub(crate) fn due(&self, end: u64) -> usize {
        self.offsets[self.sent..].partition_point(|&o| o < end)
    }

    /// Where to end a piece of audio starting at `start` so that at most
    /// [`MARKS_PER_PIECE`] marks are due with it; `None` if every mark before `end` fits.
    pub(crate) fn split_before(&self, start: u64, end: u64) -> Option<u64> {
        if self.due(end) <= MARKS_PER_PIECE {
            return None;
        }
        // At most MARKS_PER_PIECE marks share an offset, so the first mark that does not
        // fit lies after `start`.
        Some(self.offsets[self.sent + MARKS_PER_PIECE].max(start + 1))
    }

    /// Hand every mark due before `end` to `send`, in order.
    pub(crate) fn send_due(&mut self, reply: ReplyId, end: u64, mut send: impl FnMut(MarkPos)) {
        let due = self.due(end);
        for i in self.sent..self.sent + due {
            send(MarkPos {
                reply,
                offset: self.offsets[i],
                text: self.texts[i].clone(),
            });
        }
        self.sent += due;
    }

    /// What was heard when `played` of `accepted` samples per channel were played: the
    /// marks whose first sample was played, or else an estimate from the whole text.
    pub(crate) fn heard(&self, played: u64, accepted: u64) -> Option<Heard> {
        if !self.offsets.is_empty() {
            let marks = self.offsets.partition_point(|&o| o < played);
            let text = self.texts[..marks].concat();
            return Some(Heard {
                text,
                marks: marks as u32,
                timing: TextTiming::Marks,
            });
        }
        let whole = self.whole.as_deref()?;
        Some(Heard {
            text: estimate_heard(whole, played, accepted).to_owned(),
            marks: 0,
            timing: TextTiming::Estimated,
        })
    }
}

/// The part of `text` a listener heard when `played` of the reply's `total` samples played,
/// estimated without timings: the text is taken as spoken at an even rate of characters
/// over the reply, and a word counts as heard once its first character's estimated time was
/// played (as a mark counts once its first sample was). The result is a prefix of `text`
/// ending at the end of a word (the producer's spacing and punctuation inside it kept):
/// empty when no word's start was played, the whole text without trailing whitespace when
/// everything was.
///
/// ```
/// use voxpace_core::estimate_heard;
/// let text = "Hello there, general Kenobi.";
/// assert_eq!(estimate_heard(text, 0, 100), "");
/// assert_eq!(estimate_heard(text, 40, 100), "Hello there,");
/// assert_eq!(estimate_heard(text, 100, 100), text);
/// ```
pub fn estimate_heard(text: &str, played: u64, total: u64) -> &str {
    let spoken = text.trim_end();
    let length = spoken.chars().count() as u128;
    if total == 0 || length == 0 {
        return "";
    }
    let played = played.min(total) as u128;
    let mut heard_end = 0;
    let mut in_word = false;
    for (chars, (byte, c)) in spoken.char_indices().enumerate() {
        if c.is_whitespace() {
            in_word = false;
            continue;
        }
        if !in_word {
            in_word = true;
            // This word starts `chars` characters in: heard if that instant was played.
            if chars as u128 * total as u128 >= played * length {
                break;
            }
        }
        heard_end = byte + c.len_utf8();
    }
    &text[..heard_end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn estimates_cut_at_word_ends() {
        let t = "Hello there, general Kenobi.";
        assert_eq!(estimate_heard(t, 1, 100), "Hello");
        assert_eq!(estimate_heard(t, 500, 100), t);
        // "general" starts at char 13 of 28: heard from 13/28 = 46.4 % on.
        assert_eq!(estimate_heard(t, 46, 100), "Hello there,");
        assert_eq!(estimate_heard(t, 47, 100), "Hello there, general");
        assert_eq!(estimate_heard("  a  b \n", 1, 1), "  a  b");
        assert_eq!(estimate_heard("", 5, 10), "");
        assert_eq!(estimate_heard("word", 5, 0), "");
        assert_eq!(estimate_heard("héllo wörld", 6, 11), "héllo");
        assert_eq!(estimate_heard("héllo wörld", 7, 11), "héllo wörld");
    }

    #[test]
    fn marks_are_heard_from_their_first_sample() {
        let mut log = TextLog::default();
        let r = ReplyId(1);
        log.add(r, 0, "Hi", 0).unwrap();
        log.add(r, 100, " there", 0).unwrap();
        log.add(r, 100, ",", 0).unwrap();
        log.add(r, 250, " you", 0).unwrap();
        let heard = |played| log.heard(played, 300).map(|h| (h.text, h.marks));
        assert_eq!(heard(0), Some((String::new(), 0)));
        assert_eq!(heard(1), Some(("Hi".into(), 1)));
        assert_eq!(heard(100), Some(("Hi".into(), 1)));
        assert_eq!(heard(101), Some(("Hi there,".into(), 3)));
        assert_eq!(heard(300), Some(("Hi there, you".into(), 4)));
        assert!(matches!(
            log.add(r, 99, "x", 0),
            Err(Error::MarkOutOfOrder { .. })
        ));
        assert!(matches!(
            log.add(r, 260, "x", 261),
            Err(Error::MarkBehindAudio { .. })
        ));
    }

    #[test]
    fn due_marks_are_sent_once_in_order() {
        let mut log = TextLog::default();
        let r = ReplyId(3);
        for (o, t) in [(0, "a"), (10, "b"), (10, "c"), (30, "d")] {
            log.add(r, o, t, 0).unwrap();
        }
        let mut sent = Vec::new();
        log.send_due(r, 10, |m| sent.push(m.text.to_string()));
        assert_eq!(sent, ["a"]);
        assert_eq!(log.due(31), 3);
        log.send_due(r, 31, |m| sent.push(m.text.to_string()));
        assert_eq!(sent, ["a", "b", "c", "d"]);
        assert!(!log.has_unsent());
    }

    #[test]
    fn a_push_splits_where_marks_would_overflow_the_ring() {
        let mut log = TextLog::default();
        let r = ReplyId(1);
        for i in 0..(MARK_SLOTS as u64 * 2) {
            log.add(r, i * 10, "w ", 0).unwrap();
        }
        assert_eq!(log.split_before(0, 5), None);
        let at = log.split_before(0, 100_000).unwrap();
        assert_eq!(at, MARKS_PER_PIECE as u64 * 10);
        assert_eq!(log.due(at), MARKS_PER_PIECE);
        let mut at_one = TextLog::default();
        for _ in 0..MARKS_PER_PIECE {
            at_one.add(r, 5, "x", 0).unwrap();
        }
        assert!(
            at_one.add(r, 5, "x", 0).is_err(),
            "more than fit at one sample"
        );
    }

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    proptest! {
        #[test]
        fn an_estimate_is_a_prefix_ending_at_a_word_end(text in "[ a-zé.,!\n]{0,60}", played in 0u64..2000, total in 0u64..2000) {
            let heard = estimate_heard(&text, played, total);
            prop_assert!(text.starts_with(heard));
            prop_assert!(heard.is_empty() || !heard.ends_with(char::is_whitespace));
            let next = text[heard.len()..].chars().next();
            prop_assert!(next.is_none_or(char::is_whitespace), "cut inside a word: {heard:?} | {:?}", &text[heard.len()..]);
        }

        #[test]
        fn more_played_never_hears_less(text in "[ a-z.]{0,60}", a in 0u64..1000, b in 0u64..1000, total in 1u64..1000) {
            let (lo, hi) = (a.min(b), a.max(b));
            let (x, y) = (estimate_heard(&text, lo, total), estimate_heard(&text, hi, total));
            prop_assert!(y.starts_with(x));
        }

        #[test]
        fn nothing_or_everything_at_the_ends(text in "[ a-z.]{0,60}", total in 1u64..1000) {
            prop_assert_eq!(estimate_heard(&text, 0, total), "");
            prop_assert_eq!(estimate_heard(&text, total, total), text.trim_end());
        }

        #[test]
        fn heard_words_follow_the_played_share(text in "[a-z]{1,8}( [a-z]{1,8}){0,12}", played in 0u64..=1000) {
            // Every word whose first character's share of the text was played is heard,
            // and no other.
            let heard = estimate_heard(&text, played, 1000);
            let length = text.chars().count() as u64;
            let mut expected = 0;
            let mut at = 0;
            for w in text.split(' ') {
                if at * 1000 < played * length { expected += 1; }
                at += w.chars().count() as u64 + 1;
            }
            prop_assert_eq!(words(heard), expected);
        }
    }
}

//! Digital silence is not encoded: the listening state of an agent costs no Opus.
//!
//! An agent output is silent most of the time (the user speaks, the agent listens), and a
//! silent output renders frames of exact zeros (no reply, no background: nothing is mixed).
//! Encoding them would cost as much CPU as speech, and libopus' DTX still runs the whole
//! encoder on every frame. Instead, once a frame and the `HANGOVER` frames before it were all
//! zero, the frame is neither encoded nor sent, like DTX without its keep-alive packets: the
//! RTP timestamp of the next packet jumps by exactly the skipped time and carries the marker
//! bit (RFC 3551 §4.1: the first packet of a talkspurt).
//!
//! Why the hangover: the encoder looks ahead (the last few ms of speech leave in the packet
//! of the next frame) and the decoder rings out (SILK's LPC, CELT's overlap and post-filter);
//! after `HANGOVER` zero frames have gone through both, the receiver's last decoded audio is
//! silence, so whatever it plays in the gap (nothing, or concealment of silence) is silent.
//! The encoder is then paused on zeros and the decoder on their packets: both resume from the
//! same state with the next talkspurt, so a receiver that decodes only what it gets (no
//! concealment in between) hears exactly what an encoder fed every frame would have given,
//! shifted by nothing. Gaps are whole frames, so the timeline stays sample-exact.

/// Decides, frame by frame, which frames reach the encoder.
#[derive(Debug, Clone, Default)]
pub struct SilenceGate {
    /// Consecutive all-zero frames up to and including the last one seen.
    zeros: u32,
}

impl SilenceGate {
    /// All-zero frames still encoded and sent after audio before the stream goes quiet.
    pub const HANGOVER: u32 = 5;

    /// A gate that has seen no frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `pcm` (one frame) is to be encoded and sent. Allocation-free.
    pub fn admit(&mut self, pcm: &[i16]) -> bool {
        if pcm.iter().all(|&s| s == 0) {
            self.zeros = self.zeros.saturating_add(1);
        } else {
            self.zeros = 0;
        }
        self.zeros <= Self::HANGOVER
    }
}

#[cfg(test)]
mod tests {
    use super::SilenceGate;

    #[test]
    fn zeros_after_the_hangover_are_held_back_and_audio_passes_at_once() {
        let mut gate = SilenceGate::new();
        let (zero, sound) = ([0i16; 480], [3i16; 480]);
        let mut admitted: Vec<bool> = (0..8).map(|_| gate.admit(&zero)).collect();
        assert_eq!(admitted, [true, true, true, true, true, false, false, false]);
        assert!(gate.admit(&sound), "the talkspurt is sent");
        admitted = (0..6).map(|_| gate.admit(&zero)).collect();
        assert_eq!(admitted, [true, true, true, true, true, false]);
        let mut one = zero;
        one[479] = -1;
        assert!(gate.admit(&one), "one sample of audio is not silence");
    }
}

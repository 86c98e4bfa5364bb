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
//!
//! Why a keep-alive every 400 ms (as libopus' DTX sends one): a peer that never gets a
//! packet may never announce the track (webrtc-rs raises `on_track` with the first RTP
//! packet), and SFUs drop a publisher that sends no media for some seconds. The keep-alive
//! is a real encoded frame of the silence, not an empty (DTX) packet, which a decoder would
//! conceal: the encoder and every decoder then see the same subsequence of frames, paused
//! together on silence, and resume from the same state with the next talkspurt. A receiver
//! that decodes only what it gets (no concealment in between) hears exactly what the encoder
//! encoded, sample for sample; gaps are whole frames, so the timeline stays exact.

use std::time::Duration;

use voxpace_core::Format;

/// Decides, frame by frame, which frames reach the encoder.
#[derive(Debug, Clone)]
pub struct SilenceGate {
    /// Consecutive all-zero frames up to and including the last one seen.
    zeros: u64,
    /// Past the hangover, every `keepalive`-th silent frame is still encoded and sent.
    keepalive: u64,
}

impl SilenceGate {
    /// All-zero frames still encoded and sent after audio before the stream goes quiet.
    pub const HANGOVER: u64 = 5;

    /// How often a silent stream still sends a frame (libopus' DTX interval).
    pub const KEEPALIVE: Duration = Duration::from_millis(400);

    /// A gate for frames of `format` that has seen no frame.
    pub fn new(format: Format) -> Self {
        let frame = format.frame_duration().as_micros().max(1);
        Self {
            zeros: 0,
            keepalive: (Self::KEEPALIVE.as_micros() / frame).max(1) as u64,
        }
    }

    /// Frames between two keep-alives (400 ms of frames, at least 1).
    pub fn keepalive_frames(&self) -> u64 {
        self.keepalive
    }

    /// Whether `pcm` (one frame) is to be encoded and sent. Allocation-free.
    pub fn admit(&mut self, pcm: &[i16]) -> bool {
        if pcm.iter().all(|&s| s == 0) {
            self.zeros += 1;
        } else {
            self.zeros = 0;
        }
        self.zeros <= Self::HANGOVER || (self.zeros - Self::HANGOVER).is_multiple_of(self.keepalive)
    }
}

#[cfg(test)]
mod tests {
    use super::SilenceGate;
    use voxpace_core::Format;

    #[test]
    fn zeros_after_the_hangover_are_held_back_but_for_keepalives_and_audio_passes_at_once() {
        let mut gate = SilenceGate::new(Format::new(24_000, 1, 20).unwrap());
        assert_eq!(gate.keepalive_frames(), 20);
        let (zero, sound) = ([0i16; 480], [3i16; 480]);
        let sent: Vec<usize> = (1..=70).filter(|_| gate.admit(&zero)).collect();
        assert_eq!(
            sent,
            [1, 2, 3, 4, 5, 25, 45, 65],
            "hangover, then every 400 ms"
        );
        assert!(gate.admit(&sound), "the talkspurt is sent");
        let admitted: Vec<bool> = (0..6).map(|_| gate.admit(&zero)).collect();
        assert_eq!(admitted, [true, true, true, true, true, false]);
        let mut one = zero;
        one[479] = -1;
        assert!(gate.admit(&one), "one sample of audio is not silence");
    }
}

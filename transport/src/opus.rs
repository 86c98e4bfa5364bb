//! Opus encoding (and decoding, for receivers and tests) on top of libopus.
//!
//! Opus accepts 8, 12, 16, 24 and 48 kHz input natively, so a track is encoded at its own rate
//! and never resampled; only the RTP clock is fixed at 48 kHz (RFC 7587), which every track
//! rate divides exactly (see [`rtp_clock_factor`]).

use audiopus::coder::{Decoder, Encoder};
use audiopus::{Application, Bitrate, Channels, SampleRate, Signal};

use crate::Error;

/// The RTP clock rate of Opus, whatever the encoded rate (RFC 7587 §4.1).
pub const OPUS_RTP_CLOCK: u32 = 48_000;

/// Largest Opus packet we ever produce; RFC 6716 caps a frame's payload well below this.
pub const MAX_PACKET: usize = 1500;

/// Encoder settings. The defaults suit speech over WebRTC: 32 kbit/s, complexity 9, in-band
/// FEC on (with a 10 % loss hint so libopus actually spends bits on it), DTX off (silent
/// frames still flow, so RTP timestamps advance one packet per frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusConfig {
    /// Target bitrate in bits per second, 6 000 to 510 000.
    pub bitrate: u32,
    /// Encoder complexity, 0 (fastest) to 10 (best).
    pub complexity: u8,
    /// In-band forward error correction: a receiver can rebuild a lost packet from the next.
    pub fec: bool,
    /// Expected packet loss in percent (0 to 100); tunes how much FEC costs.
    pub packet_loss_percent: u8,
    /// What libopus tunes for: speech intelligibility (`Voip`, the default), fidelity for
    /// music and mixed content (`Audio`, cheaper to encode), or lowest delay (`LowDelay`).
    pub application: OpusApplication,
    /// Discontinuous transmission: in silence libopus emits tiny packets, which are not sent.
    /// The RTP timestamp still follows the track's pts, so the gap is exact.
    pub dtx: bool,
}

impl Default for OpusConfig {
    fn default() -> Self {
        Self {
            bitrate: 32_000,
            complexity: 9,
            fec: true,
            packet_loss_percent: 10,
            application: OpusApplication::Voip,
            dtx: false,
        }
    }
}

/// The libopus application mode (`OPUS_APPLICATION_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpusApplication {
    /// Speech: SILK/hybrid modes, best intelligibility at low bitrates.
    #[default]
    Voip,
    /// General audio: favours CELT, better for music beds, lower CPU.
    Audio,
    /// Restricted low delay: CELT only, no SILK lookahead.
    LowDelay,
}

impl OpusConfig {
    /// Check every field against the ranges libopus accepts.
    pub fn validate(&self) -> Result<(), Error> {
        if !(6_000..=510_000).contains(&self.bitrate) {
            return Err(Error::InvalidConfig(format!(
                "opus bitrate {} bit/s is out of range (6000 to 510000)",
                self.bitrate
            )));
        }
        if self.complexity > 10 {
            return Err(Error::InvalidConfig(format!(
                "opus complexity {} is out of range (0 to 10)",
                self.complexity
            )));
        }
        if self.packet_loss_percent > 100 {
            return Err(Error::InvalidConfig(format!(
                "opus packet loss {} % is out of range (0 to 100)",
                self.packet_loss_percent
            )));
        }
        Ok(())
    }
}

/// How many 48 kHz RTP ticks one sample at `sample_rate` spans (6, 4, 3, 2 or 1).
pub fn rtp_clock_factor(sample_rate: u32) -> Result<u32, Error> {
    opus_rate(sample_rate)?;
    Ok(OPUS_RTP_CLOCK / sample_rate)
}

fn opus_rate(sample_rate: u32) -> Result<SampleRate, Error> {
    Ok(match sample_rate {
        8_000 => SampleRate::Hz8000,
        12_000 => SampleRate::Hz12000,
        16_000 => SampleRate::Hz16000,
        24_000 => SampleRate::Hz24000,
        48_000 => SampleRate::Hz48000,
        other => {
            return Err(Error::InvalidConfig(format!(
                "sample rate {other} Hz cannot be Opus-encoded (use 8000, 12000, 16000, 24000 or 48000)"
            )))
        }
    })
}

fn opus_channels(channels: u16) -> Result<Channels, Error> {
    match channels {
        1 => Ok(Channels::Mono),
        2 => Ok(Channels::Stereo),
        other => Err(Error::InvalidConfig(format!(
            "{other} channels cannot be Opus-encoded here (use 1 or 2)"
        ))),
    }
}

/// A configured libopus encoder for one track's frames.
#[derive(Debug)]
pub struct OpusEncoder {
    inner: Encoder,
    channels: usize,
    frame_samples: usize,
}

impl OpusEncoder {
    /// An encoder for `frame_samples` samples per channel per call.
    pub fn new(
        sample_rate: u32,
        channels: u16,
        frame_samples: usize,
        config: &OpusConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        // Opus frames are 2.5, 5, 10, 20, 40 or 60 ms.
        let tenths_ms = frame_samples as u64 * 10_000 / sample_rate as u64;
        if ![25, 50, 100, 200, 400, 600].contains(&tenths_ms)
            || !(frame_samples as u64 * 10_000).is_multiple_of(sample_rate as u64)
        {
            return Err(Error::InvalidConfig(format!(
                "a frame of {frame_samples} samples at {sample_rate} Hz is not an Opus frame length (2.5, 5, 10, 20, 40 or 60 ms)"
            )));
        }
        let mut inner = Encoder::new(
            opus_rate(sample_rate)?,
            opus_channels(channels)?,
            match config.application {
                OpusApplication::Voip => Application::Voip,
                OpusApplication::Audio => Application::Audio,
                OpusApplication::LowDelay => Application::LowDelay,
            },
        )?;
        let ctl = |what: &str, e: audiopus::Error| Error::Opus(format!("setting {what}: {e}"));
        inner
            .set_bitrate(Bitrate::BitsPerSecond(config.bitrate as i32))
            .map_err(|e| ctl("bitrate", e))?;
        inner
            .set_complexity(config.complexity)
            .map_err(|e| ctl("complexity", e))?;
        inner
            .set_inband_fec(config.fec)
            .map_err(|e| ctl("fec", e))?;
        inner
            .set_packet_loss_perc(config.packet_loss_percent)
            .map_err(|e| ctl("packet loss", e))?;
        inner.set_dtx(config.dtx).map_err(|e| ctl("dtx", e))?;
        if config.application == OpusApplication::Voip {
            inner
                .set_signal(Signal::Voice)
                .map_err(|e| ctl("signal", e))?;
        }
        Ok(Self {
            inner,
            channels: channels as usize,
            frame_samples,
        })
    }

    /// Interleaved values one call takes.
    pub fn frame_len(&self) -> usize {
        self.frame_samples * self.channels
    }

    /// Encode one frame into `out`, returning the packet length. Allocation-free.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, Error> {
        if pcm.len() != self.frame_len() {
            return Err(Error::InvalidConfig(format!(
                "frame of {} values given to an encoder expecting {}",
                pcm.len(),
                self.frame_len()
            )));
        }
        Ok(self.inner.encode(pcm, out)?)
    }
}

/// A libopus decoder producing interleaved `i16` at a chosen rate (48 kHz for RTP audio).
#[derive(Debug)]
pub struct OpusDecoder {
    inner: Decoder,
    channels: usize,
    buf: Vec<i16>,
}

impl OpusDecoder {
    /// A decoder producing `channels` channels at `sample_rate`.
    pub fn new(sample_rate: u32, channels: u16) -> Result<Self, Error> {
        let inner = Decoder::new(opus_rate(sample_rate)?, opus_channels(channels)?)?;
        // 120 ms is the longest Opus packet.
        let buf = vec![0; sample_rate as usize * 120 / 1000 * channels as usize];
        Ok(Self {
            inner,
            channels: channels as usize,
            buf,
        })
    }

    /// Decode one packet. Returns the decoded samples (interleaved), valid until the next call.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[i16], Error> {
        let packet = audiopus::packet::Packet::try_from(packet)?;
        let out = audiopus::MutSignals::try_from(&mut self.buf[..])?;
        let n = self.inner.decode(Some(packet), out, false)?;
        Ok(&self.buf[..n * self.channels])
    }

    /// Conceal `samples` lost samples per channel (packet loss concealment; a multiple of
    /// 2.5 ms). Returns the concealment, valid until the next call.
    pub fn conceal(&mut self, samples: usize) -> Result<&[i16], Error> {
        let len = (samples * self.channels).min(self.buf.len());
        let out = audiopus::MutSignals::try_from(&mut self.buf[..len])?;
        let n = self.inner.decode(None, out, false)?;
        Ok(&self.buf[..n * self.channels])
    }
}

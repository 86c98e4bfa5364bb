//! Opus (RFC 6716) through libopus, for Ogg/Opus (RFC 7845) files and reply streams.
//!
//! symphonia 0.6 demuxes Ogg/Opus (its packets, the `OpusHead` as extra data, the end trim
//! from the last page's granule position) but has no Opus decoder; this one is registered
//! beside symphonia's own (see [`crate::codecs`]). It applies what the Ogg mapping leaves to
//! the decoder: the header's pre-skip (encoder delay, at 48 kHz) at the start and after a
//! reset, the header's output gain, and each packet's end trim. libopus always decodes at
//! 48 kHz here, whatever the header's "input sample rate" (which is informational only).

use std::sync::Mutex;

use audiopus::coder::{Decoder as Libopus, GenericCtl};
use symphonia::core::audio::{
    AsGenericAudioBufferRef, AudioBuffer, AudioMut, AudioSpec, Channels, GenericAudioBufferRef,
    Position,
};
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{
    AudioCodecParameters, AudioDecoder, AudioDecoderOptions, FinalizeResult,
};
use symphonia::core::codecs::registry::{RegisterableAudioDecoder, SupportedAudioCodec};
use symphonia::core::codecs::CodecInfo;
use symphonia::core::errors::{Error as SymError, Result};
use symphonia::core::packet::PacketRef;

/// Opus always decodes at 48 kHz here.
const RATE: u32 = 48_000;
/// The longest Opus packet: 120 ms at 48 kHz.
const MAX_PACKET_FRAMES: usize = 5_760;

const INFO: CodecInfo = CodecInfo {
    short_name: "opus",
    long_name: "Opus (libopus)",
    profiles: &[],
};

/// What the `OpusHead` packet (RFC 7845 §5.1) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    channels: usize,
    pre_skip: usize,
    /// Output gain in Q7.8 dB.
    gain_q8: i16,
}

fn parse_head(b: &[u8]) -> std::result::Result<Head, &'static str> {
    if b.len() < 19 || &b[..8] != b"OpusHead" {
        return Err("opus: no OpusHead identification header");
    }
    if b[8] >> 4 != 0 {
        return Err("opus: unsupported OpusHead version");
    }
    let channels = b[9] as usize;
    let family = b[18];
    // Family 0 is mono or stereo in one stream: what speech and TTS use. Families 1+ are
    // multistream (surround, ambisonics).
    if family != 0 || !(1..=2).contains(&channels) {
        return Err("opus: only mono or stereo Opus (channel mapping family 0) is supported");
    }
    Ok(Head {
        channels,
        pre_skip: u16::from_le_bytes([b[10], b[11]]) as usize,
        gain_q8: i16::from_le_bytes([b[16], b[17]]),
    })
}

/// The libopus decoder behind symphonia's [`AudioDecoder`] trait.
pub(crate) struct OpusDecoder {
    params: AudioCodecParameters,
    /// Behind a mutex only because symphonia's trait wants `Sync`; only `&mut self` locks it.
    libopus: Mutex<Libopus>,
    head: Head,
    /// Frames of pre-skip still to drop (the encoder's delay; again after a reset).
    skip_left: usize,
    gain: f32,
    interleaved: Vec<f32>,
    buf: AudioBuffer<f32>,
}

impl OpusDecoder {
    fn try_new(params: &AudioCodecParameters) -> Result<Self> {
        if params.codec != CODEC_ID_OPUS {
            return Err(SymError::Unsupported("opus: not an Opus stream"));
        }
        let extra = params.extra_data.as_deref().ok_or(SymError::Unsupported(
            "opus: no OpusHead identification header",
        ))?;
        let head = parse_head(extra).map_err(SymError::Unsupported)?;
        let (opus_channels, layout) = match head.channels {
            1 => (
                audiopus::Channels::Mono,
                Channels::Positioned(Position::FRONT_CENTER),
            ),
            _ => (
                audiopus::Channels::Stereo,
                Channels::Positioned(Position::FRONT_LEFT | Position::FRONT_RIGHT),
            ),
        };
        let libopus = Libopus::new(audiopus::SampleRate::Hz48000, opus_channels)
            .map_err(|_| SymError::Unsupported("opus: libopus refused the stream layout"))?;
        let mut params = params.clone();
        params
            .with_sample_rate(RATE)
            .with_channels(layout.clone())
            .with_max_frames_per_packet(MAX_PACKET_FRAMES as u64);
        Ok(Self {
            params,
            libopus: Mutex::new(libopus),
            head,
            skip_left: head.pre_skip,
            gain: 10f32.powf(head.gain_q8 as f32 / 256.0 / 20.0),
            interleaved: vec![0.0; MAX_PACKET_FRAMES * head.channels],
            buf: AudioBuffer::new(AudioSpec::new(RATE, layout), MAX_PACKET_FRAMES),
        })
    }

    fn decode_inner(&mut self, packet: &PacketRef<'_>) -> Result<()> {
        self.buf.clear();
        let data = packet.data;
        if data.is_empty() {
            // A zero-length packet is legal in Ogg (a lost packet): nothing to play.
            return Ok(());
        }
        let input = audiopus::packet::Packet::try_from(data)
            .map_err(|_| SymError::DecodeError("opus: packet too large"))?;
        let output = audiopus::MutSignals::try_from(&mut self.interleaved[..])
            .map_err(|_| SymError::DecodeError("opus: output buffer"))?;
        let libopus = self.libopus.get_mut().unwrap_or_else(|e| e.into_inner());
        let frames = libopus
            .decode_float(Some(input), output, false)
            .map_err(|_| SymError::DecodeError("opus: libopus could not decode a packet"))?;
        let frames = frames.min(MAX_PACKET_FRAMES);
        let samples = &mut self.interleaved[..frames * self.head.channels];
        if self.gain != 1.0 {
            samples.iter_mut().for_each(|x| *x *= self.gain);
        }
        self.buf.render_uninit(Some(frames));
        self.buf.copy_from_slice_interleaved(&&*samples);
        let skip = self.skip_left.min(frames);
        self.skip_left -= skip;
        let start = skip.max(packet.trim_start.get() as usize);
        self.buf.trim(start, packet.trim_end.get() as usize);
        Ok(())
    }
}

impl AudioDecoder for OpusDecoder {
    fn reset(&mut self) {
        let libopus = self.libopus.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = libopus.reset_state();
        // RFC 7845 §4.6: after a seek, decoding restarts at least 80 ms early and the pre-skip
        // worth of output is dropped again while the decoder converges.
        self.skip_left = self.head.pre_skip;
        self.buf.clear();
    }

    fn codec_info(&self) -> &CodecInfo {
        &INFO
    }

    fn codec_params(&self) -> &AudioCodecParameters {
        &self.params
    }

    fn decode_ref(&mut self, packet: &PacketRef<'_>) -> Result<GenericAudioBufferRef<'_>> {
        match self.decode_inner(packet) {
            Ok(()) => Ok(self.buf.as_generic_audio_buffer_ref()),
            Err(e) => {
                self.buf.clear();
                Err(e)
            }
        }
    }

    fn finalize(&mut self) -> FinalizeResult {
        FinalizeResult::default()
    }

    fn last_decoded(&self) -> GenericAudioBufferRef<'_> {
        self.buf.as_generic_audio_buffer_ref()
    }
}

impl RegisterableAudioDecoder for OpusDecoder {
    fn try_registry_new(
        params: &AudioCodecParameters,
        _opts: &AudioDecoderOptions,
    ) -> Result<Box<dyn AudioDecoder>> {
        Ok(Box::new(Self::try_new(params)?))
    }

    fn supported_codecs() -> &'static [SupportedAudioCodec] {
        &[SupportedAudioCodec {
            id: CODEC_ID_OPUS,
            info: INFO,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(channels: u8, pre_skip: u16, gain: i16, family: u8) -> Vec<u8> {
        let mut b = b"OpusHead".to_vec();
        b.push(1);
        b.push(channels);
        b.extend_from_slice(&pre_skip.to_le_bytes());
        b.extend_from_slice(&48_000u32.to_le_bytes());
        b.extend_from_slice(&gain.to_le_bytes());
        b.push(family);
        b
    }

    #[test]
    fn the_identification_header() {
        assert_eq!(
            parse_head(&head(2, 312, -256, 0)),
            Ok(Head {
                channels: 2,
                pre_skip: 312,
                gain_q8: -256
            })
        );
        assert!(parse_head(&head(6, 312, 0, 1)).is_err(), "multistream");
        assert!(parse_head(&head(0, 312, 0, 0)).is_err());
        assert!(parse_head(b"OpusTags\0\0\0\0\0\0\0\0\0\0\0").is_err());
        assert!(parse_head(&head(1, 0, 0, 0)[..12]).is_err());
    }
}

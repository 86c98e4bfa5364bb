//! Reply bodies in compressed formats (MP3, FLAC, Ogg Vorbis/Opus, AAC, MP4): the body's
//! bytes go to a `voxpace_sources` stream decoder (a thread per streamed body) as they
//! arrive, and its samples into the reply's writer. One loop serves both ends, so the body is
//! read only when the decoder wants bytes, and the decoder only gets room when the writer
//! (waiting on the track's bounded intake) took its audio: the body is read no faster than
//! the track plays it, and never buffered whole.

use voxpace_core::ReplyWriter;
use voxpace_sources::{decode_stream, Container, Decoded, StreamInput, StreamOutput};

use super::body::BodyReader;
use crate::contract::events::{ReplyDamaged, StreamEvent};
use crate::serve::error::{ApiError, Stop};
use crate::serve::output::Output;

/// One request body on its way through a stream decoder.
pub(crate) struct Coded {
    input: StreamInput,
    output: StreamOutput,
    body_done: bool,
    /// The body failed (cut off, stalled): the decoder gets no more bytes; what it has
    /// still plays, then this error answers.
    body_error: Option<ApiError>,
}

impl Coded {
    /// Start a decoder for a body of `container` audio into `output`'s format and read the
    /// body until it has read the stream's headers and decoded its first packet. `Err`
    /// (nothing played, nothing changed) when the body is not such audio.
    pub(crate) async fn open(
        container: Container,
        body: &mut BodyReader,
        output: &Output,
    ) -> Result<Self, ApiError> {
        let (input, out) = decode_stream(container, output.handle.format(), "the request body")
            .map_err(|e| ApiError::by_kind(e.kind(), "decoder", e.to_string()))?;
        let mut this = Self {
            input,
            output: out,
            body_done: false,
            body_error: None,
        };
        match this.next(body, output).await? {
            Decoded::Opened(info) => {
                output.span.in_scope(|| {
                    tracing::debug!(
                        codec = info.codec,
                        rate = info.sample_rate,
                        channels = info.channels,
                        "compressed reply body"
                    )
                });
                Ok(this)
            }
            Decoded::Finished(Err(e)) => Err(this.refused(e)),
            _ => Err(ApiError::bad_request(
                "bad_audio",
                format!(
                    "the {container} body holds no audio",
                    container = container.mime()
                ),
            )),
        }
    }

    /// Decode the rest of the body into `writer`. Damage the decoder skips is reported as a
    /// `reply_damaged` event and playing goes on; a stream that breaks ends this request with
    /// [`Stop::Damaged`] after everything decoded before the break was pushed.
    pub(crate) async fn stream_into(
        mut self,
        writer: &mut ReplyWriter,
        body: &mut BodyReader,
        output: &Output,
    ) -> Result<(), ApiError> {
        let channels = u64::from(output.handle.format().channels());
        loop {
            match self.next(body, output).await? {
                Decoded::Samples(samples) => {
                    let frames = samples.len() as u64 / channels;
                    writer.push_vec(samples).await?;
                    body.credit(frames);
                }
                Decoded::Damaged { at, error } => {
                    let event = StreamEvent::ReplyDamaged(ReplyDamaged {
                        reply: writer.id().0,
                        at_ms: at.as_secs_f64() * 1000.0,
                        reason: error.to_string(),
                    });
                    output.span.in_scope(|| {
                        tracing::warn!(reply = writer.id().0, %error, "damaged reply audio skipped")
                    });
                    output.events.send(&event);
                }
                Decoded::Finished(result) => {
                    if let Some(e) = self.body_error.take() {
                        return Err(e);
                    }
                    return result.map_err(|e| {
                        ApiError::stopped(
                            Stop::Damaged,
                            format!("{e}; the reply ends with the audio decoded before it"),
                        )
                        .closing()
                    });
                }
                // `Opened` came before; later kinds are for other users.
                _ => {}
            }
        }
    }

    /// The error for a body refused before anything played.
    fn refused(&mut self, e: voxpace_sources::Error) -> ApiError {
        if let Some(body) = self.body_error.take() {
            return body;
        }
        // The message names the body and its media type ("the request body (audio/ogg): ...");
        // a codec not decoded here is a 415, anything else keeps its kind.
        ApiError::from(e).closing()
    }

    /// The decoder's next report, reading the body as the decoder wants bytes.
    async fn next(&mut self, body: &mut BodyReader, output: &Output) -> Result<Decoded, ApiError> {
        loop {
            tokio::select! {
                biased;
                d = self.output.recv() => {
                    // The thread always ends with `Finished`; a missing one is a lost thread.
                    return Ok(d.unwrap_or(Decoded::Finished(Ok(()))));
                }
                _ = self.input.feed(), if self.input.has_pending() => {}
                chunk = body.next(output), if !self.input.has_pending() && !self.body_done => {
                    match chunk {
                        Ok(Some(bytes)) => self.input.put(bytes),
                        Ok(None) => {
                            self.body_done = true;
                            self.input.close();
                        }
                        // The output is being ended: stop at once.
                        Err(e) if e.stop == Some(Stop::OutputEnded) => return Err(e),
                        // A body cut off or stalled: what the decoder has still plays.
                        Err(e) => {
                            self.body_done = true;
                            self.input.close();
                            self.body_error = Some(e);
                        }
                    }
                }
            }
        }
    }
}

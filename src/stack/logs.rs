//! `logs`: the output of several containers as one stream of lines, each
//! tagged with its container.

use crate::engine::Engine;
use futures_util::stream::{self, BoxStream, StreamExt};

pub struct Line {
    pub container: String,
    pub text: String,
}

/// Lines from every container in `names`, interleaved as they arrive.
pub fn stream<'a>(
    engine: &'a Engine,
    names: &[String],
    follow: bool,
    tail: Option<usize>,
) -> BoxStream<'a, Line> {
    let streams = names.iter().map(|name| {
        let container = name.clone();
        let chunks = engine.output(name, follow, tail);
        // A chunk may hold several lines, or the end of one: split and
        // carry the remainder so every item is one whole line, and give
        // out a last line that has no newline when the stream ends.
        stream::unfold(
            (chunks, String::new(), false),
            |(mut chunks, mut pending, ended)| async move {
                if ended {
                    return None;
                }
                match chunks.next().await {
                    Some(chunk) => {
                        pending.push_str(&chunk);
                        let mut lines = Vec::new();
                        while let Some(i) = pending.find('\n') {
                            lines.push(pending[..i].trim_end_matches('\r').to_owned());
                            pending.drain(..=i);
                        }
                        Some((lines, (chunks, pending, false)))
                    }
                    None if pending.is_empty() => None,
                    None => Some((vec![std::mem::take(&mut pending)], (chunks, pending, true))),
                }
            },
        )
        .flat_map(stream::iter)
        .map(move |text| Line {
            container: container.clone(),
            text,
        })
        .boxed()
    });
    stream::select_all(streams).boxed()
}

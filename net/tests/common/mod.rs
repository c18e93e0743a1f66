//! Shared by the socket tests: the handler side of a request body taken streamed.

use bytes::Bytes;
use net::{BodyError, RequestBody};

/// Reads a streamed body to its end: its length and the sum of its bytes, or its failure.
pub async fn length_and_sum(mut body: RequestBody) -> Result<(usize, u64), BodyError> {
    let (mut length, mut sum) = (0usize, 0u64);
    while let Some(chunk) = body.next_chunk().await {
        let chunk = chunk?;
        length += chunk.len();
        sum += chunk.iter().map(|b| *b as u64).sum::<u64>();
    }
    Ok((length, sum))
}

/// `streamed <bytes> <sum of bytes>`, or 400 `body failed: <error>`.
pub fn streamed_answer(read: &Result<(usize, u64), BodyError>) -> http::Response<Bytes> {
    match read {
        Ok((length, sum)) => http::Response::new(Bytes::from(format!("streamed {length} {sum}"))),
        Err(error) => {
            let mut response = http::Response::new(Bytes::from(format!("body failed: {error}")));
            *response.status_mut() = http::StatusCode::BAD_REQUEST;
            response
        }
    }
}

//! The client side of `execdeck serve --token-file`'s gate (the spec key
//! `token_file=PATH`): a challenge and response with HMAC-SHA256 and fresh
//! nonces on both sides, so the secret never crosses the wire and a server
//! that does not know it is caught too (bootstrap/README.md, *socketserver.py*).
//!
//! ```text
//! server → client   "EXECDECK-AUTH-1 " hex(Ns) "\n"
//! client → server   hex(HMAC(K, "execdeck-auth-client\0" Ns Nc)) " " hex(Nc) "\n"
//! server → client   "OK " hex(HMAC(K, "execdeck-auth-server\0" Ns Nc)) "\n"  or  "DENIED\n"
//! ```

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What the server's challenge line starts with.
const CHALLENGE: &str = "EXECDECK-AUTH-1 ";

/// Longest line either side sends in the exchange.
const MAX_LINE: u64 = 1024;

/// Bytes of each nonce.
const NONCE_LEN: usize = 32;

/// Reads a shared secret as the server does: the file's bytes without
/// surrounding whitespace. Fails naming the file when it cannot be read or
/// holds nothing.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = bytes.trim_ascii();
    if secret.is_empty() {
        return Err(format!(
            "{} is empty: it must hold the secret",
            path.display()
        ));
    }
    Ok(secret.to_vec())
}

/// Proves to the server that this side knows `secret` and checks that the
/// server knows it too. On failure, says what went wrong (refused, not asked,
/// a server that could not prove it knows the secret).
pub async fn client_handshake<R, W>(
    reader: &mut R,
    writer: &mut W,
    secret: &[u8],
) -> Result<(), String>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let line = read_line(reader).await?;
    let Some(server_nonce) = line.strip_prefix(CHALLENGE).and_then(unhex) else {
        return Err(format!(
            "the server did not ask for a token (is it running with --token-file?); it sent {:?}",
            cut(&line)
        ));
    };
    let mut client_nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut client_nonce)
        .map_err(|e| format!("no random numbers for a nonce: {e}"))?;
    let proof = mac(
        secret,
        b"execdeck-auth-client\0",
        &server_nonce,
        &client_nonce,
    );
    let answer = format!("{} {}\n", hex(&proof), hex(&client_nonce));
    writer
        .write_all(answer.as_bytes())
        .await
        .map_err(|e| format!("the connection broke while sending the token proof: {e}"))?;
    let _ = writer.flush().await;
    let line = read_line(reader).await?;
    if line == "DENIED" {
        return Err("the server refused the token (its --token-file holds another secret)".into());
    }
    let verified = line
        .strip_prefix("OK ")
        .and_then(unhex)
        .is_some_and(|theirs| verify(secret, &server_nonce, &client_nonce, &theirs));
    if verified {
        Ok(())
    } else {
        Err(format!(
            "the server did not prove it knows the token; it sent {:?}",
            cut(&line)
        ))
    }
}

/// Checks the server's proof in constant time.
fn verify(secret: &[u8], server_nonce: &[u8], client_nonce: &[u8], theirs: &[u8]) -> bool {
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    m.update(b"execdeck-auth-server\0");
    m.update(server_nonce);
    m.update(client_nonce);
    m.verify_slice(theirs).is_ok()
}

fn mac(secret: &[u8], label: &[u8], server_nonce: &[u8], client_nonce: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; this cannot fail.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    m.update(label);
    m.update(server_nonce);
    m.update(client_nonce);
    m.finalize().into_bytes().to_vec()
}

/// One line of the exchange, without its `\n`; at most [`MAX_LINE`] bytes.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<String, String> {
    let mut line = Vec::new();
    let n = reader
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("the connection broke during the token exchange: {e}"))?;
    if n == 0 {
        return Err("the server closed the connection during the token exchange".into());
    }
    if line.pop() != Some(b'\n') {
        return Err(format!(
            "the server sent {:?} where a line of the token exchange belongs",
            cut(&String::from_utf8_lossy(&line))
        ));
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.is_empty() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The start of a line, for an error message.
fn cut(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server side written from bootstrap/README.md, to check the client.
    async fn serve(secret: &'static [u8], stream: tokio::io::DuplexStream) -> bool {
        let (r, mut w) = tokio::io::split(stream);
        let mut r = tokio::io::BufReader::new(r);
        let ns = [7u8; NONCE_LEN];
        w.write_all(format!("{CHALLENGE}{}\n", hex(&ns)).as_bytes())
            .await
            .unwrap();
        let line = read_line(&mut r).await.unwrap();
        let (proof, nc) = line.split_once(' ').unwrap();
        let nc = unhex(nc).unwrap();
        let ok = unhex(proof).unwrap() == mac(secret, b"execdeck-auth-client\0", &ns, &nc);
        let reply = if ok {
            format!(
                "OK {}\n",
                hex(&mac(secret, b"execdeck-auth-server\0", &ns, &nc))
            )
        } else {
            "DENIED\n".to_owned()
        };
        w.write_all(reply.as_bytes()).await.unwrap();
        ok
    }

    async fn attempt(
        server_secret: &'static [u8],
        client_secret: &[u8],
    ) -> (Result<(), String>, bool) {
        let (a, b) = tokio::io::duplex(4096);
        let server = tokio::spawn(serve(server_secret, b));
        let (r, mut w) = tokio::io::split(a);
        let mut r = tokio::io::BufReader::new(r);
        let result = client_handshake(&mut r, &mut w, client_secret).await;
        (result, server.await.unwrap())
    }

    #[tokio::test]
    async fn the_right_secret_passes_both_ways_and_a_wrong_one_is_refused() {
        let (result, accepted) = attempt(b"s3cret", b"s3cret").await;
        assert_eq!(result, Ok(()));
        assert!(accepted);
        let (result, accepted) = attempt(b"s3cret", b"guess").await;
        assert!(!accepted);
        assert!(result.unwrap_err().contains("refused the token"));
    }

    #[tokio::test]
    async fn a_server_that_asks_for_nothing_or_cannot_prove_is_an_error() {
        let mut r: &[u8] = b"hello\n";
        let mut w = Vec::new();
        let err = client_handshake(&mut r, &mut w, b"k").await.unwrap_err();
        assert!(err.contains("did not ask for a token"), "{err}");
        assert!(w.is_empty(), "nothing is sent to such a server");

        let challenge = format!("{CHALLENGE}{}\nOK {}\n", hex(&[1; 32]), hex(&[0; 32]));
        let mut r = challenge.as_bytes();
        let err = client_handshake(&mut r, &mut Vec::new(), b"k")
            .await
            .unwrap_err();
        assert!(err.contains("did not prove"), "{err}");
    }

    #[test]
    fn secrets_are_read_like_the_server_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  abc \n").unwrap();
        assert_eq!(read_secret(&path).unwrap(), b"abc");
        std::fs::write(&path, " \n").unwrap();
        assert!(read_secret(&path).unwrap_err().contains("is empty"));
        assert!(
            read_secret(&dir.path().join("nope"))
                .unwrap_err()
                .contains("cannot read")
        );
    }
}

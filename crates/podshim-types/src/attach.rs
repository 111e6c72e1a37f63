//! The attach socket's wire contract, shared by the shim (which serves
//! it) and podctl (which reads it). Frames both ways are `[kind u8][length
//! u32 big-endian][payload]`.

/// Shim to client: the container has exited (empty; the connection closes
/// after it). A connection that closes without it was dropped for reading
/// too slowly.
pub const FRAME_EXIT: u8 = 0;
/// Shim to client: stdout bytes (a terminal's output too).
pub const FRAME_STDOUT: u8 = 1;
/// Shim to client: stderr bytes.
pub const FRAME_STDERR: u8 = 2;
/// Client to shim: bytes for the terminal.
pub const FRAME_INPUT: u8 = 1;
/// Largest frame a client may send.
pub const MAX_INPUT_FRAME: usize = 64 * 1024;

/// The header of a frame of `len` bytes.
pub fn header(kind: u8, len: usize) -> [u8; 5] {
    let n = (len as u32).to_be_bytes();
    [kind, n[0], n[1], n[2], n[3]]
}

/// Kind and length from a header.
pub fn parse_header(h: [u8; 5]) -> (u8, usize) {
    (h[0], u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        assert_eq!(header(FRAME_STDERR, 300), [2, 0, 0, 1, 44]);
        assert_eq!(parse_header(header(FRAME_STDOUT, 70000)), (1, 70000));
    }
}

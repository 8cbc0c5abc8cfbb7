//! Decimal integers written into byte buffers without `fmt` (response heads, upstream request
//! heads, RESP commands, the stream encoders' indices and usage).

use bytes::BufMut;

/// Appends a decimal integer.
pub fn push_u64<B: BufMut>(out: &mut B, mut n: u64) {
    if let Ok(d) = u8::try_from(n) {
        if d < 10 {
            // Block and tool indices: almost always one digit.
            out.put_u8(b'0' + d);
            return;
        }
    }
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        if let Some(slot) = tmp.get_mut(i) {
            // n % 10 < 10, so the cast is exact.
            *slot = b'0' + u8::try_from(n % 10).unwrap_or(0);
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.put_slice(tmp.get(i..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn integers() {
        for n in [0u64, 7, 10, 1_234_567_890, u64::MAX] {
            let mut b = BytesMut::new();
            push_u64(&mut b, n);
            assert_eq!(&b[..], n.to_string().as_bytes());
        }
    }
}

//! `$request_id`: a random 128-bit id per request, drawn by the worker.

/// `$request_id`: 32 hex digits, formatted on first use.
#[derive(Debug, Clone)]
pub struct RequestId {
    bits: (u64, u64),
    text: std::cell::OnceCell<String>,
}

impl RequestId {
    /// An id from given bits (benchmarks and tests; workers draw theirs).
    pub fn from_bits(high: u64, low: u64) -> RequestId {
        RequestId {
            bits: (high, low),
            text: std::cell::OnceCell::new(),
        }
    }

    pub fn as_str(&self) -> &str {
        self.text
            .get_or_init(|| format!("{:016x}{:016x}", self.bits.0, self.bits.1))
    }

    /// The first 60 bits, for values derived from the id (multipart boundaries).
    pub fn high_bits(&self) -> u64 {
        self.bits.0 >> 4
    }
}

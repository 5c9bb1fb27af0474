//! `expires`: the setting, and the parse of its value, shared by the configuration
//! loader and — for `expires $variable` — the request, which parses the variable's
//! value the same way each time (nginx's `ngx_http_parse_expires`).

use crate::config::template::Template;

/// `expires off | epoch | max | [modified] [-]TIME | @TIME | [modified] $VARIABLE;`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expires {
    Off,
    Epoch,
    Max,
    /// Seconds from the time of the request (negative: in the past, `no-cache`).
    Access(i64),
    /// Seconds from the file's modification time.
    Modified(i64),
    /// `@15h30m`: the next time it is that long after local midnight.
    Daily(i64),
    /// A value with variables, parsed per request; `modified` when written after
    /// `modified`. A value that does not parse sends nothing, as in nginx.
    Variable {
        modified: bool,
        value: Template,
    },
}

/// Why an `expires` value is refused (nginx's words after `"expires" directive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiresError {
    Invalid,
    DailyWithModified,
    DailyTooLate,
}

impl ExpiresError {
    pub fn message(self) -> &'static str {
        match self {
            ExpiresError::Invalid => "invalid value",
            ExpiresError::DailyWithModified => {
                "daily time cannot be used with \"modified\" parameter"
            }
            ExpiresError::DailyTooLate => "daily time value must be less than 24 hours",
        }
    }
}

/// The longest daily time nginx accepts: a day (it checks "more than 24 hours").
const DAY: i64 = 24 * 60 * 60;

impl Expires {
    /// Parses a value without variables, after `modified` or not.
    pub fn parse(modified: bool, value: &str) -> Result<Expires, ExpiresError> {
        match value {
            "off" if !modified => return Ok(Expires::Off),
            "epoch" if !modified => return Ok(Expires::Epoch),
            "max" if !modified => return Ok(Expires::Max),
            _ => {}
        }
        if let Some(t) = value.strip_prefix('@') {
            if modified {
                return Err(ExpiresError::DailyWithModified);
            }
            let secs = seconds(t)?;
            if secs > DAY {
                return Err(ExpiresError::DailyTooLate);
            }
            return Ok(Expires::Daily(secs));
        }
        let (negative, t) = match value.strip_prefix('-') {
            Some(t) => (true, t),
            None => (false, value.strip_prefix('+').unwrap_or(value)),
        };
        let secs = seconds(t)?;
        let secs = if negative { -secs } else { secs };
        Ok(if modified {
            Expires::Modified(secs)
        } else {
            Expires::Access(secs)
        })
    }
}

fn seconds(t: &str) -> Result<i64, ExpiresError> {
    crate::config::value::parse_time(t)
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or(ExpiresError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_nginx_parses_them() {
        use ExpiresError::*;
        for (modified, value, want) in [
            (false, "off", Ok(Expires::Off)),
            (false, "epoch", Ok(Expires::Epoch)),
            (false, "max", Ok(Expires::Max)),
            (true, "epoch", Err(Invalid)),
            (false, "1h", Ok(Expires::Access(3600))),
            (false, "+1h", Ok(Expires::Access(3600))),
            (false, "-1h", Ok(Expires::Access(-3600))),
            (true, "30d", Ok(Expires::Modified(30 * 86_400))),
            (false, "@15h30m", Ok(Expires::Daily(55_800))),
            (false, "@0", Ok(Expires::Daily(0))),
            (false, "@24h", Ok(Expires::Daily(86_400))),
            (false, "@25h", Err(DailyTooLate)),
            (false, "@-1h", Err(Invalid)),
            (true, "@1h", Err(DailyWithModified)),
            (false, "soon", Err(Invalid)),
            (false, "", Err(Invalid)),
        ] {
            assert_eq!(Expires::parse(modified, value), want, "{modified} {value}");
        }
    }
}

//! Choosing the io driver: io_uring when the kernel supports it (probed once), else epoll.
//! `--driver` forces one; forcing io_uring where it is unavailable is an error, not a silent
//! fallback.

use crate::config::DriverChoice;

/// The driver every worker will run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Uring,
    Epoll,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Self::Uring => "io_uring",
            Self::Epoll => "epoll",
        }
    }
}

/// Resolves the choice; `Err` explains why a forced io_uring cannot be honoured.
pub fn resolve(choice: DriverChoice) -> Result<Driver, String> {
    resolve_with(choice, uring_available())
}

/// Pure resolution given whether io_uring works (unit-testable).
pub fn resolve_with(choice: DriverChoice, uring_ok: bool) -> Result<Driver, String> {
    match (choice, uring_ok) {
        (DriverChoice::Auto | DriverChoice::Uring, true) => Ok(Driver::Uring),
        (DriverChoice::Auto | DriverChoice::Epoll, false) | (DriverChoice::Epoll, true) => Ok(Driver::Epoll),
        (DriverChoice::Uring, false) => {
            Err("--driver uring was requested but io_uring is not available on this kernel (or is blocked by seccomp); use --driver auto or epoll".to_owned())
        }
    }
}

/// Probes io_uring by setting up a small ring.
pub fn uring_available() -> bool {
    monoio::utils::detect_uring()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_table() {
        assert_eq!(resolve_with(DriverChoice::Auto, true), Ok(Driver::Uring));
        assert_eq!(resolve_with(DriverChoice::Auto, false), Ok(Driver::Epoll));
        assert_eq!(resolve_with(DriverChoice::Epoll, true), Ok(Driver::Epoll));
        assert!(resolve_with(DriverChoice::Uring, false).is_err());
    }
}

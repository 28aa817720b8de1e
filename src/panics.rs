//! What a caught panic said: its message when it carried one (`panic!` with
//! a literal or a formatted string). Callers give their own words otherwise.
use std::any::Any;

/// The panic's message, if its payload is a string.
pub fn panic_message(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn string_payloads_are_read_and_others_are_not() {
        let literal = std::panic::catch_unwind(|| panic!("bad page")).unwrap_err();
        assert_eq!(panic_message(&*literal).as_deref(), Some("bad page"));
        let formatted = std::panic::catch_unwind(|| panic!("page {}", 3)).unwrap_err();
        assert_eq!(panic_message(&*formatted).as_deref(), Some("page 3"));
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(panic_message(&*other), None);
    }
}

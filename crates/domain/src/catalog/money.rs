//! Money and stock: integer minor units with an ISO 4217 currency, and
//! non-negative stock counts. Arithmetic on them is checked, never wrapping.

use crate::validation::Violation;

/// The largest price a product may have, in minor units: 10^12 (ten billion
/// units of a two-decimal currency). With at most 1,000 units a line and 100
/// lines an order, no order total can overflow an `i64`; totals are still
/// computed with checked arithmetic.
pub const MAX_PRICE: i64 = 1_000_000_000_000;
/// The largest stock a product may hold.
pub const MAX_STOCK: i64 = 1_000_000_000;

/// A price in minor units (cents for EUR, yen for JPY), 0..=[`MAX_PRICE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(i64);

impl Price {
    /// # Errors
    /// A [`Violation`] (`range`) outside 0..=[`MAX_PRICE`].
    pub fn parse(minor_units: i64) -> Result<Self, Violation> {
        if (0..=MAX_PRICE).contains(&minor_units) {
            Ok(Self(minor_units))
        } else {
            Err(Violation::new(
                "range",
                format!("must be between 0 and {MAX_PRICE} minor units"),
            ))
        }
    }

    pub fn minor_units(self) -> i64 {
        self.0
    }

    /// `self × quantity`, or `None` on overflow.
    pub fn times(self, quantity: i64) -> Option<i64> {
        self.0.checked_mul(quantity)
    }
}

/// An ISO 4217 alphabetic code: three upper-case ASCII letters (`EUR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// # Errors
    /// A [`Violation`] (`currency`) unless exactly three letters `A`–`Z`.
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        match raw.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(Violation::new(
                "currency",
                "must be an ISO 4217 code: three upper-case letters",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        // Three ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

/// Units in stock, 0..=[`MAX_STOCK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StockQuantity(i64);

impl StockQuantity {
    /// # Errors
    /// A [`Violation`] (`range`) outside 0..=[`MAX_STOCK`].
    pub fn parse(units: i64) -> Result<Self, Violation> {
        if (0..=MAX_STOCK).contains(&units) {
            Ok(Self(units))
        } else {
            Err(Violation::new(
                "range",
                format!("must be between 0 and {MAX_STOCK}"),
            ))
        }
    }

    /// A stored stock: never negative (the database's `CHECK`), but it may
    /// exceed [`MAX_STOCK`], the bound of what an admin may set, when a
    /// cancellation puts units back on top of it.
    ///
    /// # Errors
    /// A [`Violation`] (`range`) below 0.
    pub fn stored(units: i64) -> Result<Self, Violation> {
        if units >= 0 {
            Ok(Self(units))
        } else {
            Err(Violation::new("range", "must not be negative"))
        }
    }

    pub fn units(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_whole_minor_units_within_bounds() {
        assert_eq!(Price::parse(0).unwrap().minor_units(), 0);
        assert_eq!(Price::parse(MAX_PRICE).unwrap().minor_units(), MAX_PRICE);
        assert_eq!(Price::parse(-1).unwrap_err().code, "range");
        assert_eq!(Price::parse(MAX_PRICE + 1).unwrap_err().code, "range");
    }

    #[test]
    fn multiplying_a_price_never_wraps() {
        let price = Price::parse(MAX_PRICE).unwrap();
        assert_eq!(price.times(1000), Some(MAX_PRICE * 1000));
        assert_eq!(price.times(i64::MAX), None);
        assert_eq!(Price::parse(250).unwrap().times(3), Some(750));
    }

    #[test]
    fn currencies_are_three_upper_case_letters() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        for bad in ["eur", "EU", "EURO", "E1R", "ÉUR", "", "E R"] {
            assert_eq!(Currency::parse(bad).unwrap_err().code, "currency", "{bad}");
        }
    }

    #[test]
    fn stock_is_never_negative() {
        assert_eq!(StockQuantity::parse(0).unwrap().units(), 0);
        assert!(StockQuantity::parse(-1).is_err());
        assert!(StockQuantity::parse(MAX_STOCK + 1).is_err());
        assert!(StockQuantity::stored(MAX_STOCK + 1).is_ok());
        assert!(StockQuantity::stored(-1).is_err());
    }
}

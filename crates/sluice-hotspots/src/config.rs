//! [`HotspotsConfig`]: the parameters of KDA's `HOTSPOTS` and their allowed
//! ranges. KDA gives no defaults: all three parameters are required in the
//! SQL call.

use crate::error::{HotspotsError, Result};

/// Allowed `windowSize` (KDA: 100 to 1,000 inclusive).
pub const WINDOW_SIZE_RANGE: (usize, usize) = (100, 1_000);
/// Smallest allowed `minimumNumberOfPointsInAHotspot` (KDA: 2); the largest
/// is the configured `windowSize`.
pub const MINIMUM_NUMBER_OF_POINTS_MIN: usize = 2;
/// Numeric columns per record this crate accepts (not a KDA parameter).
pub const DIMENSIONS_RANGE: (usize, usize) = (1, 1_000);

/// How a [`Hotspots`](crate::Hotspots) detector windows and clusters.
#[derive(Debug, Clone, PartialEq)]
pub struct HotspotsConfig {
    /// KDA `windowSize`: how many of the most recent records (the current
    /// one included) are searched for hotspots.
    pub window_size: usize,
    /// KDA `scanRadius`: two records closer than this (Euclidean distance
    /// over the numeric columns, `≤`) are neighbours; DBSCAN's ε.
    pub scan_radius: f64,
    /// KDA `minimumNumberOfPointsInAHotspot`: a record with at least this
    /// many neighbours in the window (itself included) is a hotspot's core;
    /// DBSCAN's minPts.
    pub minimum_number_of_points: usize,
    /// Numeric columns per record (the cursor's numeric columns).
    pub dimensions: usize,
}

impl HotspotsConfig {
    /// The three SQL arguments, in the order `HOTSPOTS` takes them, for
    /// records of `dimensions` numeric columns.
    pub fn new(
        window_size: usize,
        scan_radius: f64,
        minimum_number_of_points: usize,
        dimensions: usize,
    ) -> Self {
        Self {
            window_size,
            scan_radius,
            minimum_number_of_points,
            dimensions,
        }
    }

    /// Checks every parameter against KDA's range; the error names the
    /// parameter (as KDA spells it) and the range.
    pub fn validate(&self) -> Result<()> {
        check_usize("windowSize", self.window_size, WINDOW_SIZE_RANGE)?;
        // NaN fails every comparison, so test "valid" positively.
        if !(self.scan_radius > 0.0 && self.scan_radius.is_finite()) {
            return Err(HotspotsError::InvalidScanRadius {
                value: self.scan_radius,
            });
        }
        check_usize(
            "minimumNumberOfPointsInAHotspot",
            self.minimum_number_of_points,
            (MINIMUM_NUMBER_OF_POINTS_MIN, self.window_size),
        )?;
        check_usize("dimensions", self.dimensions, DIMENSIONS_RANGE)?;
        Ok(())
    }
}

fn check_usize(parameter: &'static str, value: usize, (min, max): (usize, usize)) -> Result<()> {
    if value < min || value > max {
        return Err(HotspotsError::ParameterOutOfRange {
            parameter,
            value,
            min,
            max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out_of_range(config: &HotspotsConfig) -> Option<(&'static str, usize, usize, usize)> {
        match config.validate() {
            Err(HotspotsError::ParameterOutOfRange {
                parameter,
                value,
                min,
                max,
            }) => Some((parameter, value, min, max)),
            _ => None,
        }
    }

    #[test]
    fn the_developer_guide_example_is_valid() {
        assert_eq!(HotspotsConfig::new(1_000, 0.2, 17, 2).validate(), Ok(()));
        // The SQL Reference's example on the stock ticker stream.
        assert_eq!(HotspotsConfig::new(100, 0.013, 20, 2).validate(), Ok(()));
    }

    #[test]
    fn window_size_is_100_to_1000() {
        assert_eq!(HotspotsConfig::new(100, 1.0, 2, 1).validate(), Ok(()));
        assert_eq!(HotspotsConfig::new(1_000, 1.0, 2, 1).validate(), Ok(()));
        assert_eq!(
            out_of_range(&HotspotsConfig::new(99, 1.0, 2, 1)),
            Some(("windowSize", 99, 100, 1_000))
        );
        assert_eq!(
            out_of_range(&HotspotsConfig::new(1_001, 1.0, 2, 1)),
            Some(("windowSize", 1_001, 100, 1_000))
        );
    }

    #[test]
    fn minimum_points_is_2_to_window_size() {
        assert_eq!(HotspotsConfig::new(200, 1.0, 200, 1).validate(), Ok(()));
        assert_eq!(
            out_of_range(&HotspotsConfig::new(200, 1.0, 1, 1)),
            Some(("minimumNumberOfPointsInAHotspot", 1, 2, 200))
        );
        assert_eq!(
            out_of_range(&HotspotsConfig::new(200, 1.0, 201, 1)),
            Some(("minimumNumberOfPointsInAHotspot", 201, 2, 200))
        );
    }

    #[test]
    fn scan_radius_is_a_finite_positive_number() {
        assert_eq!(HotspotsConfig::new(100, 1e-9, 2, 1).validate(), Ok(()));
        for bad in [0.0, -0.0, -1.0, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                HotspotsConfig::new(100, bad, 2, 1).validate(),
                Err(HotspotsError::InvalidScanRadius { value: bad })
            );
        }
        let err = HotspotsConfig::new(100, f64::NAN, 2, 1).validate();
        assert!(matches!(err, Err(HotspotsError::InvalidScanRadius { value }) if value.is_nan()));
        assert!(
            HotspotsConfig::new(100, -1.0, 2, 1)
                .validate()
                .map_err(|e| e.to_string())
                .unwrap_err()
                .contains("scanRadius")
        );
    }

    #[test]
    fn dimensions_must_be_at_least_one() {
        assert_eq!(
            out_of_range(&HotspotsConfig::new(100, 1.0, 2, 0)),
            Some(("dimensions", 0, 1, 1_000))
        );
    }

    #[test]
    fn errors_name_the_parameter_as_kda_spells_it() {
        let message = HotspotsConfig::new(100, 1.0, 101, 1)
            .validate()
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some("minimumNumberOfPointsInAHotspot must be between 2 and 100 (inclusive), got 101")
        );
    }
}

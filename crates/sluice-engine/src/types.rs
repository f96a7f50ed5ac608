//! KDA SQL data types and their Arrow representation.
//!
//! [`SqlType`] is what a `CREATE STREAM` column or an input `SqlType` says;
//! [`SqlType::to_arrow`] is how its values travel in record batches.
//! CHAR/VARCHAR keep their declared length: values longer than it are cut to
//! it when stored, as KDA does.

use std::fmt;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::sql::sqlparser::ast::{
    CharacterLength, DataType as AstType, ExactNumberInfo, TimezoneInfo,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// A KDA SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    /// BOOLEAN
    Boolean,
    /// TINYINT
    TinyInt,
    /// SMALLINT
    SmallInt,
    /// INTEGER / INT
    Integer,
    /// BIGINT
    BigInt,
    /// REAL
    Real,
    /// DOUBLE
    Double,
    /// DECIMAL(precision, scale)
    Decimal(u8, i8),
    /// CHAR(n)
    Char(u32),
    /// VARCHAR(n)
    Varchar(u32),
    /// VARBINARY(n)
    Varbinary(u32),
    /// DATE
    Date,
    /// TIME
    Time,
    /// TIMESTAMP (millisecond precision, no time zone)
    Timestamp,
}

/// The Arrow type of every ROWTIME column.
pub const ROWTIME_TYPE: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

impl SqlType {
    /// The Arrow type that carries values of this type.
    pub fn to_arrow(self) -> DataType {
        match self {
            SqlType::Boolean => DataType::Boolean,
            SqlType::TinyInt => DataType::Int8,
            SqlType::SmallInt => DataType::Int16,
            SqlType::Integer => DataType::Int32,
            SqlType::BigInt => DataType::Int64,
            SqlType::Real => DataType::Float32,
            SqlType::Double => DataType::Float64,
            SqlType::Decimal(p, s) => DataType::Decimal128(p, s),
            SqlType::Char(_) | SqlType::Varchar(_) => DataType::Utf8,
            SqlType::Varbinary(_) => DataType::Binary,
            SqlType::Date => DataType::Date32,
            SqlType::Time => DataType::Time32(TimeUnit::Millisecond),
            SqlType::Timestamp => ROWTIME_TYPE,
        }
    }

    /// The KDA type that best describes an Arrow type (for messages and type checks).
    pub fn from_arrow(t: &DataType) -> Option<SqlType> {
        Some(match t {
            DataType::Boolean => SqlType::Boolean,
            DataType::Int8 | DataType::UInt8 => SqlType::TinyInt,
            DataType::Int16 | DataType::UInt16 => SqlType::SmallInt,
            DataType::Int32 | DataType::UInt32 => SqlType::Integer,
            DataType::Int64 | DataType::UInt64 => SqlType::BigInt,
            DataType::Float16 | DataType::Float32 => SqlType::Real,
            DataType::Float64 => SqlType::Double,
            DataType::Decimal128(p, s) => SqlType::Decimal(*p, *s),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::Varchar(u32::MAX),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                SqlType::Varbinary(u32::MAX)
            }
            DataType::Date32 | DataType::Date64 => SqlType::Date,
            DataType::Time32(_) | DataType::Time64(_) => SqlType::Time,
            DataType::Timestamp(_, _) => SqlType::Timestamp,
            _ => return None,
        })
    }

    /// Maximum character (or byte) length, for CHAR/VARCHAR/VARBINARY.
    pub fn max_length(self) -> Option<usize> {
        match self {
            SqlType::Char(n) | SqlType::Varchar(n) | SqlType::Varbinary(n) if n != u32::MAX => {
                Some(n as usize)
            }
            _ => None,
        }
    }

    /// The broad family a type belongs to; values move freely within one.
    pub fn family(self) -> TypeFamily {
        match self {
            SqlType::Boolean => TypeFamily::Boolean,
            SqlType::TinyInt
            | SqlType::SmallInt
            | SqlType::Integer
            | SqlType::BigInt
            | SqlType::Real
            | SqlType::Double
            | SqlType::Decimal(..) => TypeFamily::Numeric,
            SqlType::Char(_) | SqlType::Varchar(_) => TypeFamily::Character,
            SqlType::Varbinary(_) => TypeFamily::Binary,
            SqlType::Date | SqlType::Time | SqlType::Timestamp => TypeFamily::Datetime,
        }
    }

    /// Converts a parsed SQL data type.
    pub fn from_ast(t: &AstType) -> Result<SqlType, String> {
        let len = |l: &Option<CharacterLength>| match l {
            Some(CharacterLength::IntegerLength { length, .. }) => {
                u32::try_from(*length).unwrap_or(u32::MAX)
            }
            _ => u32::MAX,
        };
        Ok(match t {
            AstType::Boolean | AstType::Bool => SqlType::Boolean,
            AstType::TinyInt(_) => SqlType::TinyInt,
            AstType::SmallInt(_) => SqlType::SmallInt,
            AstType::Int(_) | AstType::Integer(_) => SqlType::Integer,
            AstType::BigInt(_) => SqlType::BigInt,
            AstType::Real | AstType::Float4 => SqlType::Real,
            AstType::Double(_) | AstType::DoublePrecision | AstType::Float8 => SqlType::Double,
            AstType::Float(_) => SqlType::Double,
            AstType::Decimal(info) | AstType::Numeric(info) | AstType::Dec(info) => {
                let (p, s) = match info {
                    ExactNumberInfo::None => (38, 0),
                    ExactNumberInfo::Precision(p) => (*p, 0),
                    ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
                };
                if p == 0 || p > 38 {
                    return Err(format!("DECIMAL precision {p} is outside 1..38"));
                }
                let s = i8::try_from(s).map_err(|_| format!("DECIMAL scale {s} is too large"))?;
                if s < 0 || s as u64 > p {
                    return Err(format!("DECIMAL scale {s} is outside 0..{p}"));
                }
                SqlType::Decimal(p as u8, s)
            }
            AstType::Char(l) | AstType::Character(l) => SqlType::Char(match l {
                None => 1,
                l => len(l),
            }),
            AstType::Varchar(l) | AstType::CharacterVarying(l) | AstType::CharVarying(l) => {
                SqlType::Varchar(len(l))
            }
            AstType::String(_) | AstType::Text => SqlType::Varchar(u32::MAX),
            AstType::Varbinary(l) => SqlType::Varbinary(match l {
                Some(datafusion::sql::sqlparser::ast::BinaryLength::IntegerLength { length }) => {
                    u32::try_from(*length).unwrap_or(u32::MAX)
                }
                _ => u32::MAX,
            }),
            AstType::Binary(_) | AstType::Bytea => SqlType::Varbinary(u32::MAX),
            AstType::Date => SqlType::Date,
            AstType::Time(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => SqlType::Time,
            AstType::Timestamp(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
                SqlType::Timestamp
            }
            other => return Err(format!("data type {other} is not a KDA SQL type")),
        })
    }

    /// Parses a type as written in an input schema, e.g. `VARCHAR(4)`.
    pub fn parse(text: &str) -> Result<SqlType, String> {
        let dialect = GenericDialect {};
        let mut parser = Parser::new(&dialect)
            .try_with_sql(text)
            .map_err(|e| format!("bad SQL type \"{text}\": {e}"))?;
        let t = parser
            .parse_data_type()
            .map_err(|e| format!("bad SQL type \"{text}\": {e}"))?;
        if parser.peek_token().token != datafusion::sql::sqlparser::tokenizer::Token::EOF {
            return Err(format!(
                "bad SQL type \"{text}\": unexpected text after the type"
            ));
        }
        SqlType::from_ast(&t)
    }
}

/// Families of types for INSERT compatibility checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeFamily {
    /// BOOLEAN
    Boolean,
    /// integers, REAL, DOUBLE, DECIMAL
    Numeric,
    /// CHAR, VARCHAR
    Character,
    /// VARBINARY
    Binary,
    /// DATE, TIME, TIMESTAMP
    Datetime,
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => write!(f, "BOOLEAN"),
            SqlType::TinyInt => write!(f, "TINYINT"),
            SqlType::SmallInt => write!(f, "SMALLINT"),
            SqlType::Integer => write!(f, "INTEGER"),
            SqlType::BigInt => write!(f, "BIGINT"),
            SqlType::Real => write!(f, "REAL"),
            SqlType::Double => write!(f, "DOUBLE"),
            SqlType::Decimal(p, s) => write!(f, "DECIMAL({p},{s})"),
            SqlType::Char(n) if *n == u32::MAX => write!(f, "CHAR"),
            SqlType::Char(n) => write!(f, "CHAR({n})"),
            SqlType::Varchar(n) if *n == u32::MAX => write!(f, "VARCHAR"),
            SqlType::Varchar(n) => write!(f, "VARCHAR({n})"),
            SqlType::Varbinary(n) if *n == u32::MAX => write!(f, "VARBINARY"),
            SqlType::Varbinary(n) => write!(f, "VARBINARY({n})"),
            SqlType::Date => write!(f, "DATE"),
            SqlType::Time => write!(f, "TIME"),
            SqlType::Timestamp => write!(f, "TIMESTAMP"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kda_types() {
        assert_eq!(SqlType::parse("VARCHAR(4)"), Ok(SqlType::Varchar(4)));
        assert_eq!(SqlType::parse("double"), Ok(SqlType::Double));
        assert_eq!(SqlType::parse("INT"), Ok(SqlType::Integer));
        assert_eq!(SqlType::parse("DECIMAL(10,2)"), Ok(SqlType::Decimal(10, 2)));
        assert_eq!(SqlType::parse("TIMESTAMP"), Ok(SqlType::Timestamp));
        assert_eq!(SqlType::parse("VARBINARY(16)"), Ok(SqlType::Varbinary(16)));
        assert_eq!(SqlType::parse("CHAR(3)"), Ok(SqlType::Char(3)));
        assert_eq!(SqlType::parse("TINYINT"), Ok(SqlType::TinyInt));
        assert_eq!(SqlType::parse("REAL"), Ok(SqlType::Real));
        assert!(SqlType::parse("VARCHAR(4) x").is_err());
        assert!(SqlType::parse("JSONB").is_err());
    }

    #[test]
    fn maps_to_arrow() {
        assert_eq!(SqlType::Timestamp.to_arrow(), ROWTIME_TYPE);
        assert_eq!(
            SqlType::Decimal(10, 2).to_arrow(),
            DataType::Decimal128(10, 2)
        );
        assert_eq!(SqlType::Varchar(4).to_string(), "VARCHAR(4)");
    }
}

//! Decoding of the `pgoutput` logical replication messages (protocol version 1) that carry row
//! changes: Relation, Type, Insert, Update, Delete, Truncate and Origin. Begin, Commit and
//! logical decoding messages are framed by the replication client already. Pure: bytes in, values
//! out; cells stay in Postgres' text output format.

/// A column of a relation as pgoutput describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Part of the replica identity (the primary key unless configured otherwise).
    pub key: bool,
    pub name: String,
    pub type_oid: u32,
    pub type_mod: i32,
}

/// A `Relation` message: the schema of a table, sent before its first change in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub id: u32,
    pub schema: String,
    pub name: String,
    /// `d` default, `n` nothing, `f` full, `i` index.
    pub replica_identity: u8,
    pub columns: Vec<Column>,
}

/// One cell of a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    /// An unchanged TOASTed value that the WAL does not repeat.
    Unchanged,
    Text(String),
}

impl Cell {
    /// The text value, if any.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A decoded pgoutput message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgOutput {
    Relation(Relation),
    Type {
        oid: u32,
        schema: String,
        name: String,
    },
    Insert {
        rel: u32,
        new: Vec<Cell>,
    },
    Update {
        rel: u32,
        /// The old key (`K`) or old full row (`O`) when the WAL carries it.
        old: Option<Vec<Cell>>,
        new: Vec<Cell>,
    },
    Delete {
        rel: u32,
        old: Vec<Cell>,
    },
    Truncate {
        rels: Vec<u32>,
    },
    Origin,
    /// Begin, Commit, logical messages and anything newer: handled elsewhere or ignored.
    Other(u8),
}

/// A malformed message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("pgoutput message truncated")]
    Truncated,
    #[error("pgoutput string is not UTF-8")]
    Utf8,
    #[error("unexpected tuple marker {0:#x}")]
    Marker(u8),
    #[error("binary tuple cells are not requested and not supported")]
    Binary,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        let s = self.take(2)?;
        Ok(i16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(self.u32()? as i32)
    }
    fn cstr(&mut self) -> Result<String, DecodeError> {
        let rest = self.b.get(self.pos..).ok_or(DecodeError::Truncated)?;
        let n = rest
            .iter()
            .position(|&c| c == 0)
            .ok_or(DecodeError::Truncated)?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| DecodeError::Utf8)?;
        self.pos += n + 1;
        Ok(s.to_owned())
    }
    fn tuple(&mut self) -> Result<Vec<Cell>, DecodeError> {
        let n = self.i16()?.max(0) as usize;
        let mut cells = Vec::with_capacity(n);
        for _ in 0..n {
            cells.push(match self.u8()? {
                b'n' => Cell::Null,
                b'u' => Cell::Unchanged,
                b't' => {
                    let len = self.i32()?.max(0) as usize;
                    let s = std::str::from_utf8(self.take(len)?).map_err(|_| DecodeError::Utf8)?;
                    Cell::Text(s.to_owned())
                }
                b'b' => return Err(DecodeError::Binary),
                m => return Err(DecodeError::Marker(m)),
            });
        }
        Ok(cells)
    }
}

/// Decode one message.
pub fn decode(data: &[u8]) -> Result<PgOutput, DecodeError> {
    let mut r = Reader { b: data, pos: 0 };
    let tag = r.u8()?;
    Ok(match tag {
        b'R' => {
            let id = r.u32()?;
            let schema = r.cstr()?;
            let name = r.cstr()?;
            let replica_identity = r.u8()?;
            let n = r.i16()?.max(0) as usize;
            let mut columns = Vec::with_capacity(n);
            for _ in 0..n {
                let flags = r.u8()?;
                columns.push(Column {
                    key: flags & 1 == 1,
                    name: r.cstr()?,
                    type_oid: r.u32()?,
                    type_mod: r.i32()?,
                });
            }
            PgOutput::Relation(Relation {
                id,
                schema,
                name,
                replica_identity,
                columns,
            })
        }
        b'Y' => PgOutput::Type {
            oid: r.u32()?,
            schema: r.cstr()?,
            name: r.cstr()?,
        },
        b'I' => {
            let rel = r.u32()?;
            match r.u8()? {
                b'N' => PgOutput::Insert {
                    rel,
                    new: r.tuple()?,
                },
                m => return Err(DecodeError::Marker(m)),
            }
        }
        b'U' => {
            let rel = r.u32()?;
            let mut old = None;
            let mut marker = r.u8()?;
            if marker == b'K' || marker == b'O' {
                old = Some(r.tuple()?);
                marker = r.u8()?;
            }
            if marker != b'N' {
                return Err(DecodeError::Marker(marker));
            }
            PgOutput::Update {
                rel,
                old,
                new: r.tuple()?,
            }
        }
        b'D' => {
            let rel = r.u32()?;
            match r.u8()? {
                b'K' | b'O' => PgOutput::Delete {
                    rel,
                    old: r.tuple()?,
                },
                m => return Err(DecodeError::Marker(m)),
            }
        }
        b'T' => {
            let n = r.u32()? as usize;
            let _options = r.u8()?;
            let mut rels = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                rels.push(r.u32()?);
            }
            PgOutput::Truncate { rels }
        }
        b'O' => PgOutput::Origin,
        other => PgOutput::Other(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cstr(v: &mut Vec<u8>, s: &str) {
        v.extend_from_slice(s.as_bytes());
        v.push(0);
    }

    fn text_cell(v: &mut Vec<u8>, s: &str) {
        v.push(b't');
        v.extend_from_slice(&(s.len() as i32).to_be_bytes());
        v.extend_from_slice(s.as_bytes());
    }

    #[test]
    fn relation() {
        let mut m = vec![b'R'];
        m.extend_from_slice(&16385u32.to_be_bytes());
        cstr(&mut m, "public");
        cstr(&mut m, "trips");
        m.push(b'd');
        m.extend_from_slice(&2i16.to_be_bytes());
        m.push(1);
        cstr(&mut m, "id");
        m.extend_from_slice(&20u32.to_be_bytes());
        m.extend_from_slice(&(-1i32).to_be_bytes());
        m.push(0);
        cstr(&mut m, "title");
        m.extend_from_slice(&25u32.to_be_bytes());
        m.extend_from_slice(&(-1i32).to_be_bytes());
        let PgOutput::Relation(r) = decode(&m).unwrap() else {
            panic!("not a relation")
        };
        assert_eq!(r.id, 16385);
        assert_eq!((r.schema.as_str(), r.name.as_str()), ("public", "trips"));
        assert_eq!(r.columns.len(), 2);
        assert!(r.columns[0].key && !r.columns[1].key);
        assert_eq!(r.columns[1].type_oid, 25);
        // every truncation is an error, never a panic
        for n in 0..m.len() {
            assert!(decode(&m[..n]).is_err(), "prefix of {n} bytes");
        }
    }

    #[test]
    fn insert_update_delete() {
        let mut ins = vec![b'I'];
        ins.extend_from_slice(&7u32.to_be_bytes());
        ins.push(b'N');
        ins.extend_from_slice(&3i16.to_be_bytes());
        text_cell(&mut ins, "42");
        ins.push(b'n');
        ins.push(b'u');
        assert_eq!(
            decode(&ins).unwrap(),
            PgOutput::Insert {
                rel: 7,
                new: vec![Cell::Text("42".into()), Cell::Null, Cell::Unchanged]
            }
        );

        let mut upd = vec![b'U'];
        upd.extend_from_slice(&7u32.to_be_bytes());
        upd.push(b'K');
        upd.extend_from_slice(&1i16.to_be_bytes());
        text_cell(&mut upd, "1");
        upd.push(b'N');
        upd.extend_from_slice(&1i16.to_be_bytes());
        text_cell(&mut upd, "2");
        assert_eq!(
            decode(&upd).unwrap(),
            PgOutput::Update {
                rel: 7,
                old: Some(vec![Cell::Text("1".into())]),
                new: vec![Cell::Text("2".into())]
            }
        );

        let mut del = vec![b'D'];
        del.extend_from_slice(&7u32.to_be_bytes());
        del.push(b'O');
        del.extend_from_slice(&1i16.to_be_bytes());
        text_cell(&mut del, "héllo");
        assert_eq!(
            decode(&del).unwrap(),
            PgOutput::Delete {
                rel: 7,
                old: vec![Cell::Text("héllo".into())]
            }
        );
        let mut bad = vec![b'D'];
        bad.extend_from_slice(&7u32.to_be_bytes());
        bad.push(b'X');
        assert_eq!(decode(&bad), Err(DecodeError::Marker(b'X')));
    }

    #[test]
    fn truncate_and_others() {
        let mut t = vec![b'T'];
        t.extend_from_slice(&2u32.to_be_bytes());
        t.push(0);
        t.extend_from_slice(&1u32.to_be_bytes());
        t.extend_from_slice(&2u32.to_be_bytes());
        assert_eq!(decode(&t).unwrap(), PgOutput::Truncate { rels: vec![1, 2] });
        assert_eq!(decode(b"B123").unwrap(), PgOutput::Other(b'B'));
        assert_eq!(decode(&[]), Err(DecodeError::Truncated));
    }
}

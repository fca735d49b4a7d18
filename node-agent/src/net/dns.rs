//! A minimal authoritative DNS responder: A queries for service names (RFC 1035 wire format,
//! UDP). It answers only what [`Directory::resolve`] knows and NXDOMAIN for everything else; it
//! forwards nothing, so a task sees exactly the services that share a network with it. Hand
//! rolled rather than a DNS library because it answers one question type from a table: about
//! a hundred lines, no zone files, no recursion.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};

use tokio::net::UdpSocket;

use super::directory::{Answer, Directory};

const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u16 = 1;
const RCODE_NXDOMAIN: u16 = 3;
const RCODE_NOTIMP: u16 = 4;
/// Seconds a client may cache an answer: short, so names follow tasks as they come and go.
const TTL: u32 = 1;

/// A parsed question.
#[derive(Debug, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    pub flags: u16,
    pub name: String,
    pub qtype: u16,
    /// The question section as received, echoed in the answer.
    question: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The first question of a query, or `None` when it cannot be read.
pub fn parse(packet: &[u8]) -> Option<Query> {
    let id = u16_at(packet, 0)?;
    let flags = u16_at(packet, 2)?;
    if u16_at(packet, 4)? == 0 {
        return None;
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *packet.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(packet.get(at..at + len)?).into_owned());
        at += len;
    }
    let qtype = u16_at(packet, at)?;
    u16_at(packet, at + 2)?;
    Some(Query {
        id,
        flags,
        name: labels.join("."),
        qtype,
        question: packet[12..at + 4].to_vec(),
    })
}

fn header(id: u16, query_flags: u16, rcode: u16, questions: u16, answers: u16) -> Vec<u8> {
    // QR, the query's opcode and RD, AA (we are the authority for these names), no RA.
    let flags = 0x8000 | (query_flags & 0x7900) | 0x0400 | rcode;
    let mut out = Vec::with_capacity(64);
    for v in [id, flags, questions, answers, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

/// The response to `q` given the directory's answer.
pub fn respond(q: &Query, answer: &Answer) -> Vec<u8> {
    let opcode = (q.flags >> 11) & 0xf;
    let (rcode, addrs): (u16, &[Ipv4Addr]) = match answer {
        _ if opcode != 0 => (RCODE_NOTIMP, &[]),
        Answer::NotFound => (RCODE_NXDOMAIN, &[]),
        Answer::Found(a) if q.qtype == TYPE_A => (0, a),
        // The name exists but has no record of that type (AAAA…): NOERROR, no answers.
        Answer::Found(_) => (0, &[]),
    };
    let mut out = header(q.id, q.flags, rcode, 1, addrs.len() as u16);
    out.extend_from_slice(&q.question);
    for ip in addrs {
        out.extend_from_slice(&[0xc0, 12]); // the name: a pointer to the question's
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// The reply to one packet from `src` (FORMERR when only the header could be read).
pub fn reply(dir: &Directory, src: Ipv4Addr, packet: &[u8]) -> Option<Vec<u8>> {
    match parse(packet) {
        Some(q) => Some(respond(&q, &dir.resolve(src, &q.name))),
        None => {
            let id = u16_at(packet, 0)?;
            let flags = u16_at(packet, 2)?;
            Some(header(id, flags, RCODE_FORMERR, 0, 0))
        }
    }
}

/// Answers queries on `socket` until the task is aborted.
pub async fn serve(socket: UdpSocket, dir: Arc<RwLock<Directory>>) {
    let mut buf = [0u8; 1500];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let SocketAddr::V4(from4) = from else {
            continue;
        };
        let out = {
            let dir = dir.read().unwrap_or_else(|e| e.into_inner());
            reply(&dir, *from4.ip(), &buf[..n])
        };
        if let Some(out) = out {
            let _ = socket.send_to(&out, from).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            p.push(label.len() as u8);
            p.extend_from_slice(label.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&CLASS_IN.to_be_bytes());
        p
    }

    #[test]
    fn answers_a_records_and_nxdomain() {
        let q = parse(&query("tasks.api", TYPE_A)).unwrap();
        assert_eq!(
            (q.id, q.name.as_str(), q.qtype),
            (0x1234, "tasks.api", TYPE_A)
        );
        let ips = vec![Ipv4Addr::new(10, 210, 1, 3), Ipv4Addr::new(10, 210, 1, 4)];
        let out = respond(&q, &Answer::Found(ips));
        assert_eq!(&out[0..2], &[0x12, 0x34]);
        assert_eq!(
            u16_at(&out, 2).unwrap() & 0x800f,
            0x8000,
            "a response, NOERROR"
        );
        assert_eq!(u16_at(&out, 6), Some(2), "two answers");
        assert_eq!(&out[out.len() - 4..], &[10, 210, 1, 4]);
        let out = respond(&q, &Answer::NotFound);
        assert_eq!(u16_at(&out, 2).unwrap() & 0xf, RCODE_NXDOMAIN);
        assert_eq!(u16_at(&out, 6), Some(0));
    }

    #[test]
    fn other_types_get_no_answer_and_garbage_formerr() {
        let q = parse(&query("api", 28)).unwrap();
        let out = respond(&q, &Answer::Found(vec![Ipv4Addr::new(10, 0, 0, 2)]));
        assert_eq!(u16_at(&out, 2).unwrap() & 0xf, 0);
        assert_eq!(u16_at(&out, 6), Some(0));
        let dir = Directory::default();
        let bad = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 70];
        let out = reply(&dir, Ipv4Addr::LOCALHOST, &bad).unwrap();
        assert_eq!(u16_at(&out, 2).unwrap() & 0xf, RCODE_FORMERR);
        assert!(reply(&dir, Ipv4Addr::LOCALHOST, &[1]).is_none());
    }
}

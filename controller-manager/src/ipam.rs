//! IPv4 address management for SwarmNetwork subnets (VIPs and task addresses).

use std::collections::HashSet;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("invalid subnet {0:?}: expected an IPv4 CIDR such as 10.0.1.0/24")]
    Subnet(String),
    #[error("could not find an available IP in {0}")]
    Exhausted(String),
}

/// An IPv4 subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub base: u32,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(cidr: &str) -> Result<Subnet, IpamError> {
        let err = || IpamError::Subnet(cidr.to_string());
        let (addr, prefix) = cidr.split_once('/').ok_or_else(err)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| err())?;
        let prefix: u8 = prefix.parse().map_err(|_| err())?;
        if !(8..=30).contains(&prefix) {
            return Err(err());
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet {
            base: u32::from(addr) & mask,
            prefix,
        })
    }

    pub fn size(&self) -> u32 {
        1u32 << (32 - self.prefix)
    }

    /// The first host address, the default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    pub fn cidr(&self, addr: Ipv4Addr) -> String {
        format!("{addr}/{}", self.prefix)
    }

    /// The lowest free host address (not network, gateway, broadcast or in `used`), marked used.
    pub fn allocate(
        &self,
        used: &mut HashSet<Ipv4Addr>,
        gateway: Ipv4Addr,
    ) -> Result<String, IpamError> {
        self.allocate_below(used, gateway, self.size() - 1)
    }

    /// [`Subnet::allocate`] among the addresses below offset `end` of the subnet.
    pub fn allocate_below(
        &self,
        used: &mut HashSet<Ipv4Addr>,
        gateway: Ipv4Addr,
        end: u32,
    ) -> Result<String, IpamError> {
        for offset in 1..end.min(self.size() - 1) {
            let ip = Ipv4Addr::from(self.base + offset);
            if ip != gateway && !used.contains(&ip) {
                used.insert(ip);
                return Ok(self.cidr(ip));
            }
        }
        Err(IpamError::Exhausted(format!(
            "{}/{}",
            Ipv4Addr::from(self.base),
            self.prefix
        )))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// The address part of `10.0.0.5/24`.
pub fn addr_of(cidr: &str) -> Option<Ipv4Addr> {
    cidr.split('/').next()?.parse().ok()
}

/// The first 10.0.N.0/24 not in `taken` (Swarm's default pool 10.0.0.0/8, /24 per network).
pub fn free_subnet(taken: &[Subnet]) -> Option<Subnet> {
    (0u32..65536)
        .map(|n| Subnet {
            base: (10 << 24) | (n << 8),
            prefix: 24,
        })
        .find(|s| {
            taken.iter().all(|t| {
                let (a0, a1) = (s.base, s.base + s.size() - 1);
                let (b0, b1) = (t.base, t.base + t.size() - 1);
                a1 < b0 || b1 < a0
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_lowest_free_skipping_gateway() {
        let s = Subnet::parse("10.0.1.7/24").unwrap();
        assert_eq!(s.base, u32::from(Ipv4Addr::new(10, 0, 1, 0)));
        let mut used = HashSet::new();
        assert_eq!(s.allocate(&mut used, s.gateway()).unwrap(), "10.0.1.2/24");
        assert_eq!(s.allocate(&mut used, s.gateway()).unwrap(), "10.0.1.3/24");
        let tiny = Subnet::parse("10.0.2.0/30").unwrap();
        let mut used = HashSet::new();
        assert!(tiny.allocate(&mut used, tiny.gateway()).is_ok());
        assert_eq!(
            tiny.allocate(&mut used, tiny.gateway()),
            Err(IpamError::Exhausted("10.0.2.0/30".into()))
        );
        assert!(Subnet::parse("fd00::/64").is_err());
    }

    #[test]
    fn allocation_stops_below_the_end_offset() {
        let s = Subnet::parse("10.0.2.0/29").unwrap();
        let mut used = HashSet::new();
        assert_eq!(
            s.allocate_below(&mut used, s.gateway(), 3).unwrap(),
            "10.0.2.2/29"
        );
        assert!(s.allocate_below(&mut used, s.gateway(), 3).is_err());
        assert_eq!(s.allocate(&mut used, s.gateway()).unwrap(), "10.0.2.3/29");
    }

    #[test]
    fn free_subnet_avoids_overlaps() {
        let taken = [
            Subnet::parse("10.0.0.0/24").unwrap(),
            Subnet::parse("10.0.1.0/24").unwrap(),
        ];
        assert_eq!(
            free_subnet(&taken),
            Some(Subnet::parse("10.0.2.0/24").unwrap())
        );
    }
}

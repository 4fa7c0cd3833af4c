"""Each TAXII client agencies run and each STIX producer labs use, replayed request by request against a real
server: see docs/clients.md."""

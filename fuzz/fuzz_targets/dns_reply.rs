//! Fuzz target: a DNS reply from the network never panics the dns_sd resolver's decoder
//! (`scrape::dns::decode_reply`: compression pointers, truncated records, odd label bytes),
//! and every name it gives reads back into wire form (its escapes are consistent).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::scrape::dns::{decode_reply, name_to_wire, Record};
    if let Ok((_, records)) = decode_reply(data) {
        for record in records {
            if let Record::Srv { target, .. } | Record::Mx { target } | Record::Ns { target } = record {
                assert!(name_to_wire(&target).is_ok(), "a decoded name does not read back: {target:?}");
            }
        }
    }
});

//! rcrun's built-in network driver: docker0-style bridge networks with IPAM,
//! veth endpoints in sandbox network namespaces and kernel (nftables) port
//! publishing. It knows nothing of images or containers beyond a netns path.

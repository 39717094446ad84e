//! The runtime side of the Container Network Interface (CNI spec 1.1, plugins
//! 0.3.0 to 1.1.0): configuration loading, plugin chain execution, result
//! caching, CHECK/STATUS/GC/VERSION.

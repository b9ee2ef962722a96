#pragma once
/// @file
/// Moved to `<converge/json.hpp>` (JSON is for people, not a wire format).
/// This forwarding header stays for one release.

#include "converge/json.hpp"

// Maps the typed configuration (userspace/config) onto RunOptions.
#pragma once

#include "app/run.h"
#include "config/config.h"

namespace fraiseql::app {

RunOptions ToRunOptions(const config::Config& c);

}  // namespace fraiseql::app

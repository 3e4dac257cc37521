// The three kinds of health check, carried out: http (GET, status 200..399
// passes), tcp (a connection is accepted) and exec (the command exits 0
// inside the container). http and tcp reach the pod at its own address on
// the engine's network, so a check needs no published port.
#pragma once

#include "agent/health_monitor.h"
#include "runtime/runtime.h"

namespace ozy {

ProbeResult runProbe(const CheckTarget& target, runtime::ContainerRuntime& runtime);

}  // namespace ozy

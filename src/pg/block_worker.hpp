// The background worker that records blocks (see block_worker.cpp).
#pragma once

namespace broker_seats::pg {

// From _PG_init while shared_preload_libraries is processed.
void register_block_worker();

}  // namespace broker_seats::pg

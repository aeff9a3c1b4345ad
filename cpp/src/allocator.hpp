#pragma once
// Internal: the caching allocator behind Storage. 64-byte aligned blocks, kept by size after they
// are freed and handed out again for the next request of the same rounded size.
#include <cstddef>

namespace lamina {
namespace allocator {

void* allocate(size_t nbytes);
void release(void* ptr, size_t nbytes);

}  // namespace allocator
}  // namespace lamina

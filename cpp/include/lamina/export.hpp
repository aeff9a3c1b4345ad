#pragma once
// Symbol visibility for the shared library liblamina.
#if defined(LAMINA_BUILDING_LIBRARY)
#define LAMINA_API __attribute__((visibility("default")))
#else
#define LAMINA_API
#endif

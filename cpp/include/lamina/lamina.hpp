#pragma once
// The whole public C++ API of lamina: #include <lamina/lamina.hpp>, link lamina::lamina.
#include "lamina/autograd.hpp"
#include "lamina/error.hpp"
#include "lamina/nn.hpp"
#include "lamina/ops.hpp"
#include "lamina/optim.hpp"
#include "lamina/runtime.hpp"
#include "lamina/tensor.hpp"

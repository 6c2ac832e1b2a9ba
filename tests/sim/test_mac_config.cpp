#include <doctest/doctest.h>

#include <string>

#include "sim/mac_config.hpp"

using namespace lpsim::sim;

TEST_CASE("every preset parses and its spelling reads back to the same configuration") {
  for (const auto& p : mac_presets()) {
    INFO(std::string(p.name));
    const MacConfig c = parse_mac(p.name);
    CHECK(parse_mac(c.spelling()) == c);
    CHECK(parse_mac(p.spelling) == c);
    CHECK(std::string(p.source).size() > 20);
    CHECK(std::string(p.instruction).size() > 5);
    CHECK(std::string(p.validated).size() > 5);
  }
}

TEST_CASE("the spelled configuration sets each knob") {
  const MacConfig c = parse_mac("in=fp16,acc=e5m10,acc_round=rz,order=chunk128,outer=fp32,out=bf16");
  REQUIRE(c.a);
  CHECK(c.a->format.spelling == "e5m10");
  CHECK(c.b->format.spelling == "e5m10");
  CHECK(c.acc.format.spelling == "e5m10");
  CHECK(c.acc.rounding.mode == lpsim::arith::Mode::RZ);
  CHECK(c.order == Order::Seq);
  CHECK(c.promote == 128);
  CHECK(c.outer->format.spelling == "e8m23");
  CHECK(c.out->format.spelling == "e8m7");
  CHECK(c.result().format.spelling == "e8m7");
  const MacConfig v = parse_mac("volta.fp16");
  CHECK(v.order == Order::Fused);
  CHECK(v.fused_n == 4);
  CHECK(v.align_bits == 23);
  CHECK(parse_mac("in=fp16,acc=fp32,order=fused8,guard=2").align_bits == 25);
  // A preset with an override.
  CHECK(parse_mac("fp16.fp32,out=bf16").out->format.spelling == "e8m7");
  // Overriding one operand of a preset's in=: the other keeps the preset's format.
  const MacConfig e = parse_mac("h800.fp8,b=fp8e5m2");
  CHECK(e.a->format.spelling == parse_mac("h800.fp8").a->format.spelling);
  CHECK(e.b->format.spelling == "e5m2");
  CHECK(e.promote == 128);
  CHECK_THROWS_WITH_AS(parse_mac("in=fp16,b=bf16"), doctest::Contains("not both"), std::invalid_argument);
}

TEST_CASE("malformed configurations are errors that quote the string and name the problem") {
  const std::pair<const char*, const char*> cases[] = {
      {"acc=fp99", "acc"},
      {"acc=fp32,acc=fp16", "twice"},
      {"acc=fp32,colour=red", "unknown key \"colour\""},
      {"acc=fp32,order=zigzag", "order=zigzag"},
      {"acc=fp32,order=chunk0", "chunk<N>"},
      {"acc=fp32,order=fused4,align=99", "align=99"},
      {"acc=fp32,align=3", "fused"},
      {"acc=fp32,order=chunk4,interleave=2", "fused"},
      {"acc=fp32,order=fused4,interleave=2", "needs promote="},
      {"acc=fp32,order=fused4,promote=8,interleave=3", "divide the fused width"},
      {"acc=fp32,order=fused4,promote=8,interleave=5", "interleave=5"},
      {"acc=bf16,acc_round=sr", "sr<k>"},
      {"acc=bf16,acc_round=sr60", "at most sr43"},
      {"acc=int32,order=fused4", "floating-point accumulator"},
      {"acc=int16:wrap", "wrapping"},
      {"acc=fp64", "too precise"},
      {"acc=int8/minmax/tensor", "scaled"},
      {"nosuchpreset", "unknown preset"},
      {"acc=fp32,", "empty item"},
      {"acc", "unknown preset \"acc\""},
      {"acc=fp32,order", "key=value"},
      {"acc=int32", "out=fp32"},
      {"acc=fp32,outer=fp32", "promotion"},
      {"in=fp16,a=fp16", "either in="},
      {"acc=fp32,order=fused4,promote=6", "multiple"},
  };
  for (const auto& [text_, needle_] : cases) {
    const char *text = text_, *needle = needle_;  // (clang 14 cannot capture structured bindings)
    INFO(std::string(text));
    try {
      parse_mac(text);
      FAIL("accepted");
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      CHECK(what.find(std::string("\"") + text + "\"") != std::string::npos);
      INFO(what);
      CHECK(what.find(needle) != std::string::npos);
    }
  }
}

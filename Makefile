# LISA build. `make deps` installs the Debian packages; `make` builds build/lisa.
# Sources are found by wildcard: add a file under src/<layer>/ and it is built.

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
SAN     ?=
PKGS    := libjpeg libpng libwebp libwebpdemux libgif libheif libtiff-4 libexif libmicrohttpd \
           libcjson libutf8proc libcurl libcrypto zlib sqlite3 gexiv2 tesseract lept sentencepiece
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) $(SAN)
LDFLAGS += $(SAN)
LDLIBS  += $(PKG_LIBS) -lstemmer -lfaiss -lopenblas -lgomp -lpthread -lm -lstdc++ # FAISS calls BLAS (its IVF training); the models run on src/tensor
# C++ only at the border of libraries without a C API (src/image/exiv2_shim.cc:
# Exiv2 exceptions; src/siglip/spm_shim.cc: libsentencepiece; src/search/faiss_shim.cc:
# Debian ships FAISS without its C API library); clang++ beside clang (make fuzz).
ifneq ($(findstring clang,$(CC)),)
CXX     := clang++
endif
CXXFLAGS_LISA := $(OPT) -g -std=c++17 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) -fopenmp $(SAN) -fno-sanitize=vptr

LIB_SRC  := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
BENCH_SRC := $(wildcard bench/bench_*.c)
LIB_CXX  := $(wildcard src/*/*.cc)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cc=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.SECONDARY:
.PHONY: all deps test bench debug fuzz fuzz-run clean format serve
all: $(BUILD)/lisa

# The web UI embedded into lisa (tools/embed_assets.sh, src/server/assets.h);
# rebuilt when any file or folder under web/ changes.
WEB_DEPS := $(shell find web ! -path '*/.*' 2>/dev/null)
LIB_OBJ  += $(BUILD)/gen/web_assets.o
$(BUILD)/gen/web_assets.c: tools/embed_assets.sh $(WEB_DEPS)
	sh tools/embed_assets.sh web $@
$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_LISA) -MMD -MP -c $< -o $@

$(BUILD)/liblisa.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/lisa: $(CLI_OBJ) $(BUILD)/liblisa.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/testutil.o $(BUILD)/liblisa.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/liblisa.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@sh tools/deps.sh

# With CI set (.ci/run), also make debug, the fuzz smoke runs, the format and
# layering checks: tests/ci.sh, one closing line over all of it.
test: $(BUILD)/lisa $(TESTS)
	@if [ -n "$(CI)" ]; then sh tests/ci.sh $(BUILD); else sh tests/run.sh $(BUILD); fi

bench: $(BUILD)/lisa $(BENCHES)
	@sh bench/run.sh $(BUILD)

# ASan + UBSan build of everything, then the whole suite under it.
debug:
	$(MAKE) BUILD=build/debug OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

# libFuzzer targets (clang). `make fuzz-run FUZZ=fuzz_decode FUZZ_TIME=600` runs one.
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZERS  := $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
FUZZ     ?= fuzz_decode
FUZZ_TIME ?= 60
fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang CXX=clang++ OPT=-O1 SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" build/fuzz/liblisa.a
	$(MAKE) BUILD=build/fuzz CC=clang CXX=clang++ OPT=-O1 SAN="-fsanitize=fuzzer,address,undefined" $(FUZZERS)

build/fuzz/fuzz_%: build/fuzz/fuzz/fuzz_%.o build/fuzz/liblisa.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

fuzz-run: fuzz
	@mkdir -p fuzz/corpus-$(FUZZ)
	build/fuzz/$(FUZZ) -max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048 -timeout=10 \
	    fuzz/corpus-$(FUZZ) fuzz/seeds/$(FUZZ)

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(wildcard src/*/*.h tests/*.h bench/*.c fuzz/*.c)

# The main job: web UI + JSON API on http://127.0.0.1:$(PORT) over ./data.
# MODEL=dir picks a CLIP checkpoint (else data/models/, else keyword-only).
PORT ?= 8000
serve: $(BUILD)/lisa
	$(BUILD)/lisa serve --data data --port $(PORT) $(if $(MODEL),--model $(MODEL))

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

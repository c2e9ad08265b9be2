#ifndef VIVA_BOT_CHART_CAIRO_DL_H
#define VIVA_BOT_CHART_CAIRO_DL_H

#include <stddef.h>

#include <cairo.h>

/*
 * cairo, loaded when the first chart is drawn rather than when viva starts.
 * Linking libcairo would load it and the fifteen libraries it needs (X11,
 * xcb, fontconfig, freetype, pixman, png ...) into every viva process: about
 * 4 ms more for each `viva exec` to start, and 1.8 MB more resident in a
 * `viva serve` that may never draw a chart. Only the functions chart.c calls
 * are looked up; their types come from cairo.h, so a call through the
 * table is checked like a direct one.
 */
#define VIVA_CAIRO_FNS(X) \
	X(arc) X(clip) X(close_path) X(create) X(destroy) X(fill) X(fill_preserve) \
	X(image_surface_create) X(line_to) X(move_to) X(new_path) X(paint) X(rectangle) X(restore) \
	X(save) X(scale) X(select_font_face) X(set_font_size) X(set_line_cap) X(set_line_join) \
	X(set_line_width) X(set_source_rgb) X(show_text) X(status) X(status_to_string) X(stroke) \
	X(surface_destroy) X(surface_write_to_png_stream) X(text_extents)

struct cairo_api {
#define VIVA_CAIRO_FIELD(name) __typeof__(cairo_##name) *name;
	VIVA_CAIRO_FNS(VIVA_CAIRO_FIELD)
#undef VIVA_CAIRO_FIELD
};

/* The library viva loads (Debian's libcairo2). */
#define VIVA_CAIRO_SONAME "libcairo.so.2"

/*
 * Open library `soname` and fill *api with its functions: 0, or -1 with
 * why in err (the library cannot be loaded, or lacks one of them).
 */
int cairo_dl_open(const char *soname, struct cairo_api *api, char *err, size_t len);

/*
 * VIVA_CAIRO_SONAME's functions, loaded the first time (any thread; later
 * calls return the first one's result): the table, or NULL with why in err.
 * The library stays loaded until the process ends.
 */
const struct cairo_api *cairo_dl(char *err, size_t len);
/* The table, for a thread that has had it from cairo_dl(). */
const struct cairo_api *cairo_loaded(void);

#endif

/* A tiny GTK drag source for the e2e test: a 160x100 window at the top-left
 * corner that offers its arguments (one file or several) as a text/uri-list
 * when dragged, the way a file manager does. xdotool drags from it onto the ReportLens window.
 * Build: cc -o dragsource dragsource.c $(pkg-config --cflags --libs gtk+-3.0) */
#include <gtk/gtk.h>
#include <stdio.h>

static gchar **uris; /* NULL-terminated */

static void on_drag_data_get(GtkWidget *w, GdkDragContext *ctx, GtkSelectionData *data,
                             guint info, guint time, gpointer user) {
    gtk_selection_data_set_uris(data, uris);
}

static gboolean on_mapped(GtkWidget *w, GdkEvent *e, gpointer user) {
    printf("ready\n");
    fflush(stdout);
    return FALSE;
}

int main(int argc, char **argv) {
    gtk_init(&argc, &argv);
    if (argc < 2) {
        fprintf(stderr, "usage: dragsource FILE...\n");
        return 2;
    }
    uris = g_new0(gchar *, argc);
    for (int i = 1; i < argc; i++) {
        uris[i - 1] = g_filename_to_uri(argv[i], NULL, NULL);
        if (!uris[i - 1]) {
            fprintf(stderr, "dragsource: %s is not an absolute path\n", argv[i]);
            return 2;
        }
    }
    GtkWidget *win = gtk_window_new(GTK_WINDOW_TOPLEVEL);
    gtk_window_set_decorated(GTK_WINDOW(win), FALSE);
    gtk_window_set_default_size(GTK_WINDOW(win), 160, 100);
    gtk_window_move(GTK_WINDOW(win), 0, 0);
    GtkWidget *box = gtk_event_box_new();
    gtk_container_add(GTK_CONTAINER(box), gtk_label_new("drag me"));
    gtk_container_add(GTK_CONTAINER(win), box);
    GtkTargetEntry targets[] = {{"text/uri-list", 0, 0}};
    gtk_drag_source_set(box, GDK_BUTTON1_MASK, targets, 1, GDK_ACTION_COPY);
    g_signal_connect(box, "drag-data-get", G_CALLBACK(on_drag_data_get), NULL);
    g_signal_connect(win, "map-event", G_CALLBACK(on_mapped), NULL);
    g_signal_connect(win, "destroy", G_CALLBACK(gtk_main_quit), NULL);
    gtk_widget_show_all(win);
    gtk_main();
    return 0;
}

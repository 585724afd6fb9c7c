# ar_macros.m4: arheap's own configure checks.

# AR_CHECK_CFLAG(FLAG, VARIABLE)
# Append FLAG to VARIABLE when the C compiler accepts it without warnings.
AC_DEFUN([AR_CHECK_CFLAG], [
  AS_VAR_PUSHDEF([ar_cv], [ar_cv_cflag_$1])
  AC_CACHE_CHECK([whether $CC accepts $1], [ar_cv], [
    ar_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS $1 -Werror"
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
      [AS_VAR_SET([ar_cv], [yes])], [AS_VAR_SET([ar_cv], [no])])
    CFLAGS=$ar_save_CFLAGS])
  AS_VAR_IF([ar_cv], [yes], [$2="${$2} $1"])
  AS_VAR_POPDEF([ar_cv])
])

# AR_CHECK_LDFLAG(FLAG, VARIABLE)
# Append FLAG to VARIABLE when a program links with it without warnings.
AC_DEFUN([AR_CHECK_LDFLAG], [
  AS_VAR_PUSHDEF([ar_cv], [ar_cv_ldflag_$1])
  AC_CACHE_CHECK([whether the linker accepts $1], [ar_cv], [
    ar_save_LDFLAGS=$LDFLAGS
    LDFLAGS="$LDFLAGS $1"
    ar_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -Werror"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
      [AS_VAR_SET([ar_cv], [yes])], [AS_VAR_SET([ar_cv], [no])])
    CFLAGS=$ar_save_CFLAGS
    LDFLAGS=$ar_save_LDFLAGS])
  AS_VAR_IF([ar_cv], [yes], [$2="${$2} $1"])
  AS_VAR_POPDEF([ar_cv])
])

# AR_CHECK_PTHREAD
# Find how to build and link threaded code; sets AR_PTHREAD_CFLAGS and AR_PTHREAD_LIBS.
AC_DEFUN([AR_CHECK_PTHREAD], [
  AC_CACHE_CHECK([how to link POSIX threads], [ar_cv_pthread], [
    ar_cv_pthread=no
    ar_save_CFLAGS=$CFLAGS
    ar_save_LIBS=$LIBS
    for ar_flag in "-pthread" "-lpthread" ""; do
      CFLAGS="$ar_save_CFLAGS $ar_flag"
      LIBS="$ar_save_LIBS $ar_flag"
      AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>
static void *run(void *arg) { return arg; }]],
          [[pthread_t t; pthread_create(&t, 0, run, 0); pthread_join(t, 0);]])],
        [ar_cv_pthread="$ar_flag"; break])
    done
    CFLAGS=$ar_save_CFLAGS
    LIBS=$ar_save_LIBS
    test -n "$ar_cv_pthread" || ar_cv_pthread=none])
  AS_CASE([$ar_cv_pthread],
    [no], [AC_MSG_ERROR([arheap needs POSIX threads])],
    [none], [AR_PTHREAD_CFLAGS=""; AR_PTHREAD_LIBS=""],
    [-pthread], [AR_PTHREAD_CFLAGS="-pthread"; AR_PTHREAD_LIBS="-pthread"],
    [AR_PTHREAD_CFLAGS=""; AR_PTHREAD_LIBS="$ar_cv_pthread"])
  AC_SUBST([AR_PTHREAD_CFLAGS])
  AC_SUBST([AR_PTHREAD_LIBS])
])
